"""botocore for the frozen trajrec: only the service models it uses (S3, plus STS/SSO for profile credentials).

Replaces pyinstaller-hooks-contrib's hook, which collects all ~400 service models (28 MB of data)."""

from pathlib import PurePosixPath

from PyInstaller.utils.hooks import collect_data_files

hiddenimports = ["html.parser"]
SERVICES = {"s3", "sts", "sso", "sso-oidc", "signin"}


def _keep(source_dest: tuple[str, str]) -> bool:
    parts = PurePosixPath(source_dest[1].replace("\\", "/")).parts  # e.g. botocore/data/s3/2006-03-01
    return len(parts) < 3 or parts[1] != "data" or parts[2] in SERVICES


datas = [d for d in collect_data_files("botocore") if _keep(d)]
