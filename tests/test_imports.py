import subprocess
import sys


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, alphamatte, alphamatte.imaging, alphamatte.eval; "
        "heavy = {'onnxruntime', 'fastapi', 'sqlalchemy', 'onnx'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
