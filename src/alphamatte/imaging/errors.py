"""Typed rejections of user images; the server maps each to one HTTP status."""


class ImageError(ValueError):
    """Base class of every reason an input image is refused."""


class InputTooLargeError(ImageError):
    """The encoded input is larger than the byte limit (HTTP 413)."""


class TooManyPixelsError(ImageError):
    """The image header declares more pixels than allowed (HTTP 413)."""


class UnsupportedFormatError(ImageError):
    """The bytes are not one of the supported formats (HTTP 415)."""


class CorruptImageError(ImageError):
    """The file is of a supported format but cannot be decoded (HTTP 422)."""
