"""Graphs derived once from a model's verified source, cached beside it: IS-Net's export
rewritten (any size, one output, fp16 maths for GPUs), a generic export's output kept and its
fp16 weights widened, the int8 graph. What a family gets is data on its spec
(``ModelSpec.preparation``)."""
