"""LLM augmentation (LLMRec-style): item enrichment, user profiles, interaction augmentation
for sparse users and denoising. Stage entry point: `recaug.augment.pipeline.run_augmentation`;
training-time helpers: `recaug.augment.denoise.prune_by_loss`, `recaug.augment.sequence`."""
