"""One way to make a product, between the engine and the front ends: a decoded photo and a
request in, bytes out. ``matte.py``: the matte and the plain cutout (withoutbg's endpoints, the
CLI, batch); ``make.py``: the laid-out product (remove.bg's endpoint, ``alphamatte cutout`` with
options). Both read the photo in sRGB for the model and keep its colours in what they write."""
