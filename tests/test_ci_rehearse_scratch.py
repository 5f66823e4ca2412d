"""Which scratch repository a rehearsal publishes to, and how the pipeline is pointed at it."""

from __future__ import annotations

import pytest

from multiarch_tasks.ci.rehearse.scratch import Scratch, scratch_for
from multiarch_tasks.ci.rehearse.steps import RehearsalError
from multiarch_tasks.model.digests import make_output_dir
from multiarch_tasks.model.reference import ImageRef

HEADER = "# Settings when generated: image={image} tags=0.1.0,latest platforms=linux/amd64\n"


@pytest.mark.parametrize(
    ("image", "options", "local", "expected"),
    [
        ("127.0.0.1:5000/acme/app", {}, False, "127.0.0.1:5000/acme/app-rehearsal"),
        ("ghcr.io/acme/app", {}, True, "127.0.0.1:5000/acme/app-rehearsal"),
        ("ghcr.io/acme/app", {}, False, "ghcr.io/acme/app-rehearsal"),
        ("ghcr.io/acme/app", {"registry": "localhost:5001"}, True,
         "localhost:5001/acme/app-rehearsal"),
        ("ghcr.io/acme/app", {"image": "ghcr.io/acme/try"}, True, "ghcr.io/acme/try"),
        ("alpine", {}, False, "docker.io/alpine-rehearsal"),
    ],
)  # fmt: skip
def test_scratch_repository_is_never_the_projects_own(tmp_path, image, options, local, expected):
    scratch = scratch_for(HEADER.format(image=image), tmp_path, local_running=local, **options)
    assert scratch.image.name == expected
    assert scratch.real.name != expected
    assert scratch.tags == ("0.1.0", "latest")


def test_scratch_reads_the_projects_pyproject_before_the_pipeline_header(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.multiarch-tasks]\nimage = "r.example/team/app"\ntags = ["1.0"]\n'
    )
    scratch = scratch_for(HEADER.format(image="old.example/app"), tmp_path, local_running=False)
    assert (scratch.real.name, scratch.image.name) == (
        "r.example/team/app",
        "r.example/team/app-rehearsal",
    )
    assert scratch.tags == ("1.0",)


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("jobs: {}\n", {}, "cannot tell the project's image"),
        (HEADER.format(image="r.example/app"), {"image": "r.example/app"}, "the project's own"),
        (HEADER.format(image="r.example/app"), {"image": "r.example/app:1"}, "without tag"),
    ],
)  # fmt: skip
def test_scratch_refuses_what_would_touch_the_project_or_cannot_tell(
    tmp_path, text, options, message
):
    with pytest.raises(RehearsalError, match=message):
        scratch_for(text, tmp_path, local_running=False, **options)


REAL = ImageRef.parse("127.0.0.1:5000/demo/app", default_tag="")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('buildah manifest push --all x "docker://127.0.0.1:5000/demo/app:ci-1-linux-amd64"',
         'buildah manifest push --all x "docker://127.0.0.1:6000/demo/app-rehearsal:ci-1-linux-amd64"'),
        ("--destination 127.0.0.1:5000/demo/app:ci-1 --image 127.0.0.1:5000/demo/app",
         ("--destination 127.0.0.1:6000/demo/app-rehearsal:ci-1"
         " --image 127.0.0.1:6000/demo/app-rehearsal")),
        ("docker login --password-stdin 127.0.0.1:5000",
         "docker login --password-stdin 127.0.0.1:6000"),
        ("""printf '{"auths":{"%s":{}}}' "127.0.0.1:5000" > c.json""",
         """printf '{"auths":{"%s":{}}}' "127.0.0.1:6000" > c.json"""),
        # a repository under the image's (kaniko's and buildah's layer cache): the scratch's
        ("--cache-from 127.0.0.1:5000/demo/app/buildcache --cache-repo=127.0.0.1:5000/demo/app/x",
         ("--cache-from 127.0.0.1:6000/demo/app-rehearsal/buildcache"
          " --cache-repo=127.0.0.1:6000/demo/app-rehearsal/x")),
        # not the image: a longer name, another repository on the same registry
        ("FROM 127.0.0.1:5000/demo/apple 127.0.0.1:5000/base/busybox:full",
         "FROM 127.0.0.1:5000/demo/apple 127.0.0.1:5000/base/busybox:full"),
    ],
)  # fmt: skip
def test_redirect_points_every_mention_of_the_image_and_its_login_at_the_scratch(line, expected):
    scratch = Scratch(REAL, ImageRef("127.0.0.1:6000", "demo/app-rehearsal", "", ""))
    assert scratch.redirect(line) == expected
    assert scratch.env() == {"INVOKE_MULTIARCH_IMAGE": "127.0.0.1:6000/demo/app-rehearsal"}


def test_a_multiarch_output_dir_carries_its_own_gitignore_and_others_do_not(tmp_path):
    make_output_dir(tmp_path / ".multiarch" / "rehearsal" / "jobs")
    make_output_dir(tmp_path / "out" / "linux-amd64")
    assert (tmp_path / ".multiarch" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not (tmp_path / "out" / ".gitignore").exists()
    assert not (tmp_path / "out" / "linux-amd64" / ".gitignore").exists()
