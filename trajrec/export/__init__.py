"""Training-ready exports of bundles: `steps` (AgentNet/OSWorld-like folders) and `hf` (Parquet for Hugging Face
`datasets`), one bundle at a time, resumable."""
