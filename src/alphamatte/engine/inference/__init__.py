"""From pixels to a matte with an opened model: the model's canvas, normalisation by its
contract, the guided upscale to the photo's size, micro-batching on GPUs."""
