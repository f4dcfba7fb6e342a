import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.errors import ConfigError
from geor1.predict import build_prompt, interpret, predict, write_map
from geor1.records import prompt_text


def test_interpret_coordinates_and_reverse_geocode():
    pred = interpret("<think>Seine, dense city.</think><answer>(48.8566, 2.3522)</answer>", "geolocate", 1)
    assert pred.reasoning == "Seine, dense city."
    assert pred.coordinates == pytest.approx((48.8566, 2.3522))
    assert pred.place["country_code"] == "FR" and pred.place["distance_km"] < 10


def test_interpret_pair_choice_and_garbage():
    assert interpret("<think>x</think><answer>(C)</answer>", "pair", 5).choice == "C"
    garbage = interpret("<answer><answer>", "geolocate", 1)
    assert garbage.coordinates is None and garbage.place is None


def test_build_prompt_shapes_and_errors():
    pair = build_prompt("pair", 5)
    text = prompt_text(pair)
    assert text.count("<image>") == 5 and "Candidate D:" in text and "<think>" in text
    with pytest.raises(ConfigError, match="config key .task.: geolocate takes exactly one image"):
        build_prompt("geolocate", 2)
    with pytest.raises(ConfigError, match="config key .question.: a free question needs"):
        build_prompt("question", 1)


def test_write_map(tmp_path):
    pred = interpret("<answer>(-33.86, 151.21)</answer>", "geolocate", 1)
    html = write_map(tmp_path / "map.html", pred).read_text()
    assert "-33.86" in html and "151.21" in html and "L.map(" in html
    # offline: every asset is inlined, nothing is fetched (no CDN, no tile server)
    assert not re.search(r"""url\(\s*["']?(https?:|//)""", html)  # no stylesheet asset from the network
    assert (
        not re.search(r"""<(script|img|link|iframe)[^>]*(src|href)=["']?(https?:|//)""", html)
        and "openstreetmap" not in html
    )
    assert "data:image/jpeg;base64," in html and "data:image/png;base64," in html


def greedy_completion(model_dir, image, prompt, max_new_tokens: int) -> str:
    """Greedy continuation of ``prompt`` with ``image``, straight from transformers (not through geor1's
    backend): the new tokens only, special tokens dropped."""
    import torch

    from geor1.models import load_model, load_processor

    processor, model = load_processor(model_dir), load_model(model_dir, dtype="float32").eval()
    text = processor.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[Image.open(image).convert("RGB")], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def test_predict_with_tiny_model_and_cli(tiny_model_dir, tmp_path):
    img = tmp_path / "photo.png"
    Image.new("RGB", (56, 56), (20, 90, 40)).save(img)
    pred = predict(tiny_model_dir, [img], task="geolocate", max_new_tokens=8)
    assert pred.completion == greedy_completion(tiny_model_dir, img, build_prompt("geolocate", 1), 8)
    result = CliRunner().invoke(
        build_app(), ["predict", str(img), "--model", str(tiny_model_dir), "--max-new-tokens", "8"]
    )
    assert result.exit_code == 0, result.output
    # the panels of the completion the API returned (the same greedy decoding)
    untagged = "model output (no <think>/<answer> tags)" in result.output
    assert untagged == pred.untagged and ("reasoning" in result.output) != pred.untagged


UNTAGGED = "model output (no <think>/<answer> tags)"


def printed_panels(output: str) -> list[tuple[str, str]]:
    """Return (title, text) of every framed panel the CLI printed, in order (one-line panels)."""
    titles = re.findall(r"^╭─+ (.+?) ─+╮$", output, flags=re.M)
    bodies = re.findall(r"^│ (.+?) *│$", output, flags=re.M)
    assert len(titles) == len(bodies), output
    return list(zip(titles, bodies, strict=True))


@pytest.mark.parametrize(
    ("completion", "panels"),
    [
        ("Loooost, mout it shows A", [(UNTAGGED, "Loooost, mout it shows A")]),
        ("unclosed <answer>B", [(UNTAGGED, "unclosed <answer>B")]),
        ("<think>grass</think><answer>B</answer>", [("reasoning", "grass"), ("answer", "B")]),
        ("<answer>B</answer>", [("reasoning", "(no <think> part)"), ("answer", "B")]),
    ],
)
def test_predict_cli_shows_untagged_text_once(tmp_path, monkeypatch, completion, panels):
    """Text with neither tag is one panel, not the same text as "reasoning" and again as "answer"."""
    import geor1.predict

    monkeypatch.setattr(
        geor1.predict,
        "predict",
        lambda model, images, *, task, **kw: interpret(completion, task, len(images)),
    )
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    img = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(img)
    result = CliRunner().invoke(build_app(), ["predict", str(img), "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert printed_panels(result.output) == panels
    if not completion.startswith("<"):
        assert result.output.count(completion) == 1


def test_predict_cli_names_bad_image(tiny_model_dir, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = CliRunner().invoke(build_app(), ["predict", str(bad), "--model", str(tiny_model_dir)])
    assert result.exit_code == 2 and str(bad) in result.output


def test_predict_cli_prints_model_text_literally(tmp_path, monkeypatch):
    """Brackets in a completion are the model's text, not rich markup: "[/]" must not raise, "[b]" must stay."""
    import geor1.predict

    completion = "<think>look at [b]this[/b] and [red]that[/]</think><answer>[/] (12.5, [i]3.25)</answer>"

    def fake_predict(model, images, *, task, **kw):
        return interpret(completion, task, len(images))

    monkeypatch.setattr(geor1.predict, "predict", fake_predict)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    img = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(img)
    result = CliRunner().invoke(
        build_app(), ["predict", str(img), "--model", str(model), "--question", "[b]where?[/b]"]
    )
    assert result.exit_code == 0, result.output
    assert "look at [b]this[/b] and [red]that[/]" in result.output
    assert "[/] (12.5, [i]3.25)" in result.output
