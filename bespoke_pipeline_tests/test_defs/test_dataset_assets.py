import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.dataset.package import CAPTION_VARIANTS
from bespoke_pipeline.pixelart.caption import BEYOND_DOUBT, parse_caption
from bespoke_pipeline.pixelart.color_words import describe, resolve
from bespoke_pipeline.pixelart.colors import hex_to_lab
from bespoke_pipeline.pixelart.regions import read_regions
from bespoke_pipeline.training.data import read_package
from bespoke_pipeline_tests.zoo import EXPECTED, add_bad_captions, add_bad_files, smeared

ASSETS = ("raw_images", "captions", "training_package", "dataset_profile")
REAL_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "real-sample"


def table_text(table) -> str:
    """Every cell of a table in the check's metadata, as one text to search."""
    return " ".join(str(value) for record in table.records for value in record.data.values())


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return {
        k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()
    }


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_the_chain_materializes_into_a_zip_of_every_pair(pipeline):
    result = pipeline.materialize()
    assert result.success
    package = result.output_for_node("training_package")
    with zipfile.ZipFile(package["path"]) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert len([n for n in names if n.endswith(".png")]) == 24
    assert len([n for n in names if n.endswith(".txt") and "/" not in n]) == 24
    for variant in ("corrected", "from_pixels", "auto"):  # what a config may train on instead
        assert len([n for n in names if n.startswith(f"captions/{variant}/")]) == 24
    assert manifest["pairs"] == package["pairs"] == 24
    assert package["sha256"] == hashlib.sha256(Path(package["path"]).read_bytes()).hexdigest()
    assert all(check.passed for check in checks_of(result).values())
    assert metadata_of(result, "raw_images")["accepted"] == 24
    assert "data:image/png;base64," in metadata_of(result, "raw_images")["contact_sheet"]
    assert "punk_0001.png" in table_text(metadata_of(result, "captions")["captions"])


def test_every_materialization_is_an_mlflow_run_with_tags_params_metrics_and_artifacts(pipeline):
    result = pipeline.materialize()
    runs = {r.data.tags["dagster.asset_key"]: r for r in pipeline.mlflow_runs()}
    assert set(runs) == set(ASSETS)
    client = MlflowClient(pipeline.tracking_uri)
    for asset, run in runs.items():
        assert run.info.status == "FINISHED"
        assert run.data.tags["dagster.run_id"] == result.run_id
        assert run.data.tags["dagster.code_version"] in ("1", "2")
        assert metadata_of(result, asset)["mlflow_run_id"] == run.info.run_id
    assert runs["raw_images"].data.metrics["accepted"] == 24
    assert runs["captions"].data.params["trigger_word"] == "TOK"
    assert runs["training_package"].data.metrics["pairs"] == 24

    def artifacts(asset: str) -> set[str]:
        return {a.path for a in client.list_artifacts(runs[asset].info.run_id)}

    assert {"contact_sheet.png", "problems.csv"} <= artifacts("raw_images")
    assert {"contact_sheet.png", "captions.csv", "agreement.csv", "vocabulary.csv"} <= artifacts(
        "captions"
    )
    assert "layout_profile.csv" in artifacts("dataset_profile")
    assert {"contact_sheet.png", "manifest.json"} <= artifacts("training_package")


def test_bad_files_are_left_out_named_in_a_failing_check_and_never_touched(pipeline):
    add_bad_files(pipeline.raw_dir)
    bad_captions = add_bad_captions(pipeline.raw_dir)
    before = folder_digest(pipeline.raw_dir)
    result = pipeline.materialize()
    assert result.success
    assert folder_digest(pipeline.raw_dir) == before

    checks = checks_of(result)
    assert not checks["all_images_usable"].passed
    listed = table_text(checks["all_images_usable"].metadata["files"])
    for name, (status, phrase) in EXPECTED.items():
        if status == "rejected":
            assert name in listed and phrase in listed, name
    assert not checks["captions_agree_with_pixels"].passed
    flagged = table_text(checks["captions_agree_with_pixels"].metadata["files"])
    assert all(name in flagged for name in bad_captions)
    assert checks["package_intact"].passed

    package = result.output_for_node("training_package")
    with zipfile.ZipFile(package["path"]) as archive:
        pngs = {n for n in archive.namelist() if n.endswith(".png")}
    # 24 good images, 3 of them given bad captions: the empty and non-UTF-8 ones are left out
    assert package["pairs"] == 22
    assert "lorem.png" in pngs and "blank_caption.png" not in pngs and "latin1.png" not in pngs
    assert not any(name in pngs for name, (status, _) in EXPECTED.items())


def test_a_resampled_image_is_left_out_named_with_its_blend_share_unless_allowed(pipeline):
    smeared(Image.open(pipeline.raw_dir / "punk_0001.png")).save(pipeline.raw_dir / "smeared.png")
    shutil.copy(pipeline.raw_dir / "punk_0001.txt", pipeline.raw_dir / "smeared.txt")
    before = folder_digest(pipeline.raw_dir)

    def packed(result: dg.ExecuteInProcessResult) -> set[str]:
        with zipfile.ZipFile(result.output_for_node("training_package")["path"]) as archive:
            return {n for n in archive.namelist() if n.endswith(".png")}

    result = pipeline.materialize()
    listed = table_text(checks_of(result)["all_images_usable"].metadata["files"])
    assert "smeared.png" in listed
    assert "looks resampled: 25% of pixels are blends of their neighbours" in listed
    reason = result.output_for_node("raw_images").set_index("file").reason["smeared.png"]
    assert reason.endswith("; set allow_resampled: true on the dataset resource to keep it")
    assert "smeared.png" not in packed(result) and len(packed(result)) == 24

    dataset = {"raw_dir": str(pipeline.raw_dir), "allow_resampled": True}
    allowed = pipeline.materialize(run_config={"resources": {"dataset": {"config": dataset}}})
    assert checks_of(allowed)["all_images_usable"].passed
    assert "smeared.png" in table_text(metadata_of(allowed, "raw_images")["warnings"])
    assert "smeared.png" in packed(allowed) and len(packed(allowed)) == 25
    assert folder_digest(pipeline.raw_dir) == before


def test_a_flagged_caption_gets_a_fix_in_the_runs_folder_and_the_users_file_is_kept(pipeline):
    caption = next(
        p
        for p in sorted(pipeline.raw_dir.glob("punk_*.txt"))
        if " solid background" in p.read_text()
    )
    original = caption.read_text(encoding="utf-8").strip()
    said = parse_caption(original).attributes.background
    drawn = read_regions(read_pixel_art(caption.with_suffix(".png")).image).background
    wrong = next(  # far enough from what is drawn to be wrong beyond doubt on its own
        w
        for w in ("purple", "green", "orange", "yellow", "blue", "black", "white")
        if min(c.distance(hex_to_lab([drawn])).min() for c in resolve(w).colours) >= BEYOND_DOUBT
    )
    caption.write_text(original.replace(f"{said} solid background", f"{wrong} solid background"))
    before = folder_digest(pipeline.raw_dir)
    result = pipeline.materialize()
    assert folder_digest(pipeline.raw_dir) == before

    folder = Path(metadata_of(result, "captions")["suggested_captions"])
    assert [p.name for p in folder.iterdir()] == [caption.name]
    fixed = (folder / caption.name).read_text(encoding="utf-8").strip()
    assert fixed == original.replace(said, describe(drawn), 1)
    # the package holds the fix as the corrected variant a config may train on, and the
    # user's text as written; from_pixels names the drawn colour in the template's words
    package = Path(result.output_for_node("training_package")["path"])
    row = [p.name for p in sorted(pipeline.raw_dir.glob("*.png"))].index(
        caption.with_suffix(".png").name
    )
    captions = {v: read_package(package, v).captions[row] for v in CAPTION_VARIANTS}
    assert captions["as_written"] == caption.read_text(encoding="utf-8").strip()
    assert captions["corrected"] == fixed
    assert f"{describe(drawn)} solid background" in captions["from_pixels"]
    assert captions["auto"] == captions["from_pixels"]  # the pixels disagree with its words
    # ... while auto keeps every other demo caption as written: each word known, all agreeing
    unchanged = [c for i, c in enumerate(read_package(package, "auto").captions) if i != row]
    assert unchanged == [c for i, c in enumerate(read_package(package).captions) if i != row]


def test_strict_mode_fails_and_names_every_bad_file(pipeline):
    add_bad_files(pipeline.raw_dir)
    result = pipeline.materialize(strict=True, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    for name, (status, phrase) in EXPECTED.items():
        if status == "rejected":
            assert f"{name}: " in message and phrase in message


def test_same_inputs_give_the_same_package_and_data_version(pipeline):
    first = pipeline.materialize().output_for_node("training_package")["sha256"]
    second = pipeline.materialize().output_for_node("training_package")
    assert second["sha256"] == first
    record = pipeline.instance.get_latest_materialization_event(dg.AssetKey("training_package"))
    assert record.asset_materialization.tags["dagster/data_version"] == first


def test_upscale_config_packs_768_pixel_copies(pipeline):
    config = {"ops": {"training_package": {"config": {"upscale_to": 768}}}}
    package = pipeline.materialize(run_config=config).output_for_node("training_package")
    assert package["image_side"] == 768


def test_secrets_never_reach_mlflow_or_dagster_metadata(pipeline, monkeypatch):
    secret = "r8_placeholder_not_a_real_token_42"
    monkeypatch.setenv("REPLICATE_API_TOKEN", secret)
    caption = pipeline.raw_dir / "punk_0001.txt"
    caption.write_text(caption.read_text().strip() + f", {secret}")
    result = pipeline.materialize()

    client = MlflowClient(pipeline.tracking_uri)
    recorded = []
    for run in pipeline.mlflow_runs():
        recorded += [json.dumps(run.data.params), json.dumps(run.data.tags)]
        root = Path(run.info.artifact_uri.removeprefix("file://"))
        recorded += [p.read_text(errors="ignore") for p in root.rglob("*") if p.is_file()]
        assert client.list_artifacts(run.info.run_id)
    for asset in ASSETS:
        recorded.append(json.dumps({k: str(v) for k, v in metadata_of(result, asset).items()}))
    assert any("***" in text for text in recorded)  # the caption table was logged, redacted
    assert not any(secret in text for text in recorded)


def test_a_folder_with_no_usable_image_fails_saying_so_and_why(pipeline):
    for path in pipeline.raw_dir.glob("*.png"):
        path.write_bytes(b"not a png")
    result = pipeline.materialize(raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith(f"no usable image in {pipeline.raw_dir}: ")
    assert "punk_0001.png: not an image" in message


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="../shared/real-sample is not in this clone")
def test_real_bespoke_exports_go_through_with_their_captions_checked(pipeline):
    for path in pipeline.raw_dir.iterdir():
        path.unlink()
    for path in REAL_SAMPLE.iterdir():
        if path.suffix in (".png", ".txt"):
            shutil.copy(path, pipeline.raw_dir / path.name)
    dataset = {"raw_dir": str(pipeline.raw_dir), "trigger_word": "bespoke"}
    config = {"resources": {"dataset": {"config": dataset}}}
    result = pipeline.materialize(run_config=config)
    assert metadata_of(result, "raw_images")["accepted"] == 12
    assert result.output_for_node("training_package")["pairs"] == 12
    captions = result.output_for_node("captions")
    assert captions.flagged.sum() <= 6  # three of the twelve are another image's caption
    profile = metadata_of(result, "dataset_profile")["findings"]
    assert "captions say pupils at (8,12)/(13,12) (12 captions)" in profile
    check = checks_of(result)["captions_agree_with_pixels"]
    assert check.metadata["agreeing_share"].value == round((~captions.flagged).mean(), 4)
