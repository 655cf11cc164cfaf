"""pyarrow for the frozen trajrec: Parquet, compute and datasets on local files.

Replaces pyinstaller-hooks-contrib's hook, which collects every submodule, every shared library and the C++
headers; Flight, Substrait, Gandiva, CUDA, ORC and the cloud filesystems (S3/GCS/Azure/HDFS) are not used."""

from PyInstaller.utils.hooks import collect_dynamic_libs, collect_submodules

UNUSED = ("flight", "substrait", "gandiva", "cuda", "orc", "s3fs", "gcsfs", "azurefs", "hdfs", "tests", "cpp_tests")


def _used(name: str) -> bool:
    return not any(word in name for word in UNUSED)


hiddenimports = collect_submodules("pyarrow", filter=_used)
# pyarrow imports these in try/except ImportError (pyarrow.fs, pyarrow.dataset): leaving them out is safe.
excludedimports = [
    "pyarrow.flight",
    "pyarrow._flight",
    "pyarrow.substrait",
    "pyarrow._substrait",
    "pyarrow.gandiva",
    "pyarrow.cuda",
    "pyarrow._cuda",
    "pyarrow.orc",
    "pyarrow._orc",
    "pyarrow._dataset_orc",
    "pyarrow._s3fs",
    "pyarrow._gcsfs",
    "pyarrow._azurefs",
    "pyarrow._hdfs",
    "pyarrow.tests",
]
binaries = [b for b in collect_dynamic_libs("pyarrow") if _used(b[0].rsplit("/", 1)[-1])]
