"""Pre-training and DFN fine-tuning of the MF² model (headless; driven by `mf2 pretrain|finetune`)."""
