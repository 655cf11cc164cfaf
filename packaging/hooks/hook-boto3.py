"""boto3 for the frozen trajrec: the S3 resource model and transfer code only (the contrib hook takes all)."""

from pathlib import PurePosixPath

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

hiddenimports = collect_submodules("boto3.s3")
datas = [
    d for d in collect_data_files("boto3") if len(PurePosixPath(d[1]).parts) < 3 or PurePosixPath(d[1]).parts[2] == "s3"
]
