import json
import os
import stat

import pytest

from geor1.errors import RecordError
from geor1.io import JsonlAppender, atomic_open, read_jsonl, write_jsonl
from geor1.records import check_relative_path, read_views, user_prompt, view_from_dict


def test_atomic_open_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.jsonl"
    write_jsonl(target, [{"a": 1}])
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("boom")
    assert read_jsonl(target) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_jsonl_error_names_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\n{bad\n')
    with pytest.raises(RecordError, match=r"x.jsonl:3"):
        read_jsonl(p)


def test_appender_repairs_partial_tail(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_text('{"id": 1}\n{"id": 2')
    with JsonlAppender(p) as app:
        app.write({"id": 3})
    assert [r["id"] for r in read_jsonl(p)] == [1, 3]


@pytest.mark.parametrize("bad", ["../x.png", "/etc/passwd", "a/../../b.png", "C:\\x.png", ""])
def test_paths_escaping_root_rejected(bad):
    with pytest.raises(RecordError, match="image"):
        check_relative_path(bad, path="m.jsonl", line=4)


def test_view_validation_names_field(tmp_path):
    p = tmp_path / "views.jsonl"
    rows = [
        {"id": "a", "image": "a.png", "lat": 1, "lon": 2, "view": "satellite"},
        {"id": "b", "image": "b.png", "lat": 100, "lon": 2, "view": "satellite"},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(RecordError) as err:
        read_views(p)
    assert err.value.line == 2 and err.value.field == "lat"
    assert view_from_dict(rows[0]).place == "a"


def test_user_prompt_shape():
    prompt = user_prompt("Which?", 2, labels=["Query:", "A:"])
    blocks = prompt[0]["content"]
    assert [b["type"] for b in blocks] == ["text", "image", "text", "image", "text"]
    assert blocks[-1]["text"].startswith("Which? First output the thinking process in <think>")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_outputs_get_the_umask_mode_not_tempfile_0600(tmp_path, umask_022):
    from geor1.io import atomic_save_dir, atomic_write_bytes, write_jsonl

    assert stat.S_IMODE(atomic_write_bytes(tmp_path / "a.png", b"x").stat().st_mode) == 0o644
    write_jsonl(tmp_path / "t.jsonl", [{"a": 1}])
    assert stat.S_IMODE((tmp_path / "t.jsonl").stat().st_mode) == 0o644
    folder = atomic_save_dir(tmp_path / "ds", lambda tmp: (tmp / "f.arrow").write_bytes(b"x"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "f.arrow").stat().st_mode) == 0o644
    os.umask(0o077)  # a private umask stays private
    assert stat.S_IMODE(atomic_write_bytes(tmp_path / "b.png", b"x").stat().st_mode) == 0o600


def test_saved_model_weights_are_readable_by_others(tmp_path, umask_022):
    from typer.testing import CliRunner

    from geor1.cli import build_app

    result = CliRunner().invoke(build_app(), ["model", "tiny", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "m").iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}, modes
