import json
import subprocess
import sys


def loaded_by(imports: str) -> set[str]:
    """Every module a fresh interpreter has loaded after ``import <imports>``."""
    code = f"import sys, json, {imports}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def heavy(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(p for p in prefixes if any(m == p or m.startswith(p + ".") for m in modules))


def test_importing_the_package_stays_light() -> None:
    modules = loaded_by("alphamatte, alphamatte.imaging, alphamatte.eval")
    assert heavy(modules, ("onnxruntime", "fastapi", "sqlalchemy", "onnx")) == []


def test_importing_the_sdk_does_not_load_the_model_runtime_or_the_server() -> None:
    modules = loaded_by("alphamatte.client")
    assert heavy(modules, ("onnxruntime", "alphamatte.engine", "alphamatte.server")) == []


def test_the_sdk_loads_numpy_and_opencv_only_when_an_image_is_processed() -> None:
    """NumPy comes with the first image (import time of the SDK), OpenCV never on its own."""
    assert heavy(loaded_by("alphamatte.client"), ("numpy", "cv2", "scipy")) == []
