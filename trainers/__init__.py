"""Character training: steering vectors now; DPO distillation + introspection SFT in a later issue."""
