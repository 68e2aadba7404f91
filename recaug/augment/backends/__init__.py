"""Generator backends: template (no model), local transformers, OpenAI-compatible HTTP."""
