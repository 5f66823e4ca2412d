#!/bin/sh
# First line: the machine as the kernel (or QEMU) reports it; tests compare it.
uname -m
echo "hello from $(cat /target), built on $(cat /built-on)"
