"""The pkg's inputs: the payload tree (the app's Info.plist, the LaunchAgent), the component's
PackageInfo and scripts, the product's Distribution, and the configuration profile.

On a macOS runner, `pkgbuild --root payload --scripts scripts --identifier ... --version ...`
and `productbuild --distribution Distribution` turn them into the signed pkg, with the app
bundle (built there with its embedded Python) placed in the payload. Here they are written
and checked, and a flat package is assembled with bsdtar to check its parts (Linux has no
mkbom, so it carries no Bom: that part only the Mac makes)."""

from __future__ import annotations

import gzip
import io
import plistlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from installers.policy.mac_profile import BUNDLE_ID, configuration_profile
from installers.reproducible import BuildError, normalise_tree
from protocol.version import VERSION

APP = "Applications/Callreel.app"
EXECUTABLE = "callreel-agent"
LAUNCH_AGENT = f"Library/LaunchAgents/{BUNDLE_ID}.plist"
PKG_ID = f"{BUNDLE_ID}.pkg"
MIN_MACOS = "13.0"


def info_plist() -> dict[str, object]:
    return {
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleName": "Callreel",
        "CFBundleDisplayName": "Callreel",
        "CFBundleExecutable": EXECUTABLE,
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": VERSION,
        "CFBundleVersion": VERSION,
        "LSMinimumSystemVersion": MIN_MACOS,
        # A menu-bar (tray) app: no Dock icon.
        "LSUIElement": True,
        "NSMicrophoneUsageDescription": (
            "Callreel records both sides of a call, after its notice, while a trainer's"
            " session is open."
        ),
    }


def launch_agent() -> dict[str, object]:
    return {
        "Label": BUNDLE_ID,
        "ProgramArguments": [f"/{APP}/Contents/MacOS/{EXECUTABLE}", "run"],
        "RunAtLoad": True,
        # Started again if it crashes, not when the user quits it from the menu.
        "KeepAlive": {"SuccessfulExit": False},
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Interactive",
        "ThrottleInterval": 30,
    }


POSTINSTALL = f"""\
#!/bin/sh
# Start the agent for whoever is logged in now; later logins start it from the LaunchAgent.
user_id=$(stat -f %u /dev/console 2>/dev/null || echo 0)
if [ "$user_id" -gt 0 ]; then
    launchctl bootout "gui/$user_id/{BUNDLE_ID}" 2>/dev/null || true
    launchctl bootstrap "gui/$user_id" "/{LAUNCH_AGENT}" || true
fi
exit 0
"""

PREINSTALL = f"""\
#!/bin/sh
# An upgrade: stop the running agent; each user's unsent spool stays and uploads after.
user_id=$(stat -f %u /dev/console 2>/dev/null || echo 0)
if [ "$user_id" -gt 0 ]; then
    launchctl bootout "gui/$user_id/{BUNDLE_ID}" 2>/dev/null || true
fi
exit 0
"""


def package_info(payload_files: int, payload_kib: int) -> str:
    root = ET.Element(
        "pkg-info",
        {
            "format-version": "2",
            "identifier": PKG_ID,
            "version": VERSION,
            "install-location": "/",
            "auth": "root",
            "overwrite-permissions": "true",
            "relocatable": "false",
        },
    )
    ET.SubElement(
        root, "payload", {"numberOfFiles": str(payload_files), "installKBytes": str(payload_kib)}
    )
    scripts = ET.SubElement(root, "scripts")
    ET.SubElement(scripts, "preinstall", {"file": "./preinstall"})
    ET.SubElement(scripts, "postinstall", {"file": "./postinstall"})
    ET.SubElement(root, "bundle-version")
    return _xml(root)


def distribution() -> str:
    root = ET.Element("installer-gui-script", {"minSpecVersion": "2"})
    ET.SubElement(root, "title").text = f"Callreel agent {VERSION}"
    ET.SubElement(root, "options", {"customize": "never", "require-scripts": "false",
                                    "hostArchitectures": "arm64,x86_64"})  # fmt: skip
    allowed = ET.SubElement(root, "allowed-os-versions")
    ET.SubElement(allowed, "os-version", {"min": MIN_MACOS})
    ET.SubElement(root, "domains", {"enable_anywhere": "false", "enable_currentUserHome": "false",
                                    "enable_localSystem": "true"})  # fmt: skip
    outline = ET.SubElement(root, "choices-outline")
    ET.SubElement(outline, "line", {"choice": "default"})
    choice = ET.SubElement(root, "choice", {"id": "default", "title": "Callreel agent"})
    ET.SubElement(choice, "pkg-ref", {"id": PKG_ID})
    ET.SubElement(
        root, "pkg-ref", {"id": PKG_ID, "version": VERSION, "onConclusion": "none"}
    ).text = "callreel-agent-component.pkg"
    return _xml(root)


def _xml(root: ET.Element) -> str:
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _plist(path: Path, value: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(plistlib.dumps(value, sort_keys=True))


def write_inputs(out: Path, epoch: int, team_id: str) -> Path:
    """Write the inputs under out/macos/; return that directory."""
    root = out / "macos"
    shutil.rmtree(root, ignore_errors=True)
    payload = root / "payload"
    _plist(payload / APP / "Contents" / "Info.plist", info_plist())
    _plist(payload / LAUNCH_AGENT, launch_agent())
    scripts = root / "scripts"
    scripts.mkdir(parents=True)
    for name, text in (("preinstall", PREINSTALL), ("postinstall", POSTINSTALL)):
        (scripts / name).write_text(text)
        (scripts / name).chmod(0o755)
    files = [path for path in payload.rglob("*") if path.is_file()]
    size_kib = (sum(path.stat().st_size for path in files) + 1023) // 1024
    (root / "PackageInfo").write_text(package_info(len(files), size_kib))
    (root / "Distribution").write_text(distribution())
    (root / "Callreel.mobileconfig").write_bytes(configuration_profile(team_id))
    normalise_tree(root, epoch)
    return root


def _cpio_gz(tree: Path) -> bytes:
    """The tree as a gzipped odc cpio archive, the pkg Payload and Scripts format."""
    names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    done = subprocess.run(
        ["cpio", "--quiet", "-o", "--format=odc", "--owner=0:0", "--reproducible"],
        input=("\n".join([".", *(f"./{name}" for name in names)]) + "\n").encode(),
        cwd=tree,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"cpio failed: {done.stderr.decode(errors='replace')}")
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as zipped:
        zipped.write(done.stdout)
    return packed.getvalue()


def flat_component(inputs: Path, epoch: int) -> Path:
    """A flat component package (xar) of the inputs, without a Bom, to check its parts."""
    if shutil.which("bsdtar") is None or shutil.which("cpio") is None:
        raise BuildError("bsdtar and cpio are missing: apt-get install libarchive-tools cpio")
    parts = inputs / "component"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir()
    shutil.copyfile(inputs / "PackageInfo", parts / "PackageInfo")
    (parts / "Payload").write_bytes(_cpio_gz(inputs / "payload"))
    (parts / "Scripts").write_bytes(_cpio_gz(inputs / "scripts"))
    normalise_tree(parts, epoch)
    pkg = inputs / "callreel-agent-component-unsigned.pkg"
    done = subprocess.run(
        ["bsdtar", "--format", "xar", "-cf", str(pkg), "PackageInfo", "Payload", "Scripts"],
        cwd=parts,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"bsdtar could not write the xar: {done.stderr}")
    return pkg
