"""The rehearsal cache test's reader of BuildKit's plain progress (testbed/ci_cache.py).

The lines are a shard's, captured from ``ci-rehearse`` on this machine's Docker 26 (docker
driver, containerd store): a cold build, and a build on an empty engine whose registry
cache answered every step, where BuildKit printed no ``CACHED`` for the last step and only
the blobs the push fetched for it (the test_ci_rehearse_cache flake in CI, stop 23).
"""

from __future__ import annotations

from testbed.ci_cache import build_steps

RUN = 'RUN uname -m > /built-on && echo "linux/s390x" > /target && echo e195d6e0 > /nonce'
PREFIX = "build linux/s390x │   s390x │ "

COLD = f"""\
#6 [2/4] {RUN}
#6 ...
#7 [internal] load build context
#7 transferring context: 56B done
#7 DONE 0.0s
#6 [2/4] {RUN}
#6 DONE 0.2s
#8 [3/4] COPY hello.sh /usr/local/bin/hello
#8 DONE 0.0s
#9 [4/4] RUN echo one > /release
#9 0.105 one more line of its own output
#9 DONE 0.3s
#10 exporting to image
#10 exporting layers 0.1s done
#10 DONE 0.3s
"""

FROM_REGISTRY_CACHE = f"""\
#5 importing cache manifest from 127.0.0.1:54187/app-rehearsal:buildcache-linux-s390x
#5 DONE 0.0s
#7 [3/4] COPY hello.sh /usr/local/bin/hello
#7 CACHED
#8 [2/4] {RUN}
#8 CACHED
#9 exporting to image
#9 exporting layers done
#9 pushing layers 0.0s done
#9 DONE 0.1s
#10 [4/4] RUN echo one > /release
#10 sha256:5b69b79d2264b98d7dd989da9580148da84c6373005958e62b2fc2b4ff04285f 1.03MB / 1.03MB done
#10 sha256:8df809f7a00f02736d0f0c094ce22acfca1a9d3531bbfe7fc6a3a03b29d5ddb0 107B / 107B 0.0s done
#10 DONE 0.1s
"""

CHANGED_LAST_STEP = f"""\
#7 [2/4] {RUN}
#7 CACHED
#8 [3/4] COPY hello.sh /usr/local/bin/hello
#8 extracting sha256:232eaa4de29d3c1c638824333753419ee94877a17617d61ffac5fb1e5d95ed6e 0.0s done
#8 DONE 0.1s
#9 [4/4] RUN echo two > /release
#9 DONE 0.2s
"""


def shard(lines: str) -> str:
    """The lines as ci-rehearse prints them: job prefix, then publish's platform prefix."""
    return "".join(f"{PREFIX}{line}\n" for line in lines.splitlines())


def test_a_cold_build_ran_every_step_after_its_base():
    assert build_steps(shard(COLD), "linux/s390x") == {
        RUN: "ran",
        "COPY hello.sh /usr/local/bin/hello": "ran",
        "RUN echo one > /release": "ran",
    }


def test_a_step_whose_blobs_were_only_fetched_from_the_cache_was_loaded_not_run():
    assert build_steps(shard(FROM_REGISTRY_CACHE), "linux/s390x") == {
        "COPY hello.sh /usr/local/bin/hello": "cached",
        RUN: "cached",
        "RUN echo one > /release": "loaded",
    }


def test_a_changed_last_step_ran_on_the_extracted_step_before_it():
    assert build_steps(shard(CHANGED_LAST_STEP), "linux/s390x") == {
        RUN: "cached",
        "COPY hello.sh /usr/local/bin/hello": "loaded",
        "RUN echo two > /release": "ran",
    }


def test_another_platforms_lines_are_not_read():
    assert build_steps(shard(COLD), "linux/arm64") == {}
