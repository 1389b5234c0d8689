from bespoke_pipeline.redaction import REDACTED, redact, secret_values

ENV = {
    "REPLICATE_API_TOKEN": "r8_placeholder_123456",
    "WANDB_API_KEY": "wandb_placeholder",
    "HOME": "/root",
    "SHORT_TOKEN": "abc",
}


def test_secret_values_come_from_credential_named_variables_only():
    assert secret_values(ENV) == ["r8_placeholder_123456", "wandb_placeholder"]


def test_secrets_are_replaced_inside_nested_values():
    value = {"caption": "TOK r8_placeholder_123456", "items": ["x wandb_placeholder", 3]}
    assert redact(value, ENV) == {"caption": f"TOK {REDACTED}", "items": [f"x {REDACTED}", 3]}


def test_credential_fields_are_masked_whatever_they_hold_but_asset_keys_are_not():
    assert redact(
        {"api_key": "anything", "hf_token": "x", "dagster.asset_key": "captions"}, ENV
    ) == {"api_key": REDACTED, "hf_token": REDACTED, "dagster.asset_key": "captions"}
