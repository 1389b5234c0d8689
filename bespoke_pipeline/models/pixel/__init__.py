"""The embedded 24x24 base model: architecture, word tokenizer, pipeline and pretraining."""
