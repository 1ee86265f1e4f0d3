"""open_package and pack: good folders and archives, and archives built to attack the unpacker."""

import io
import json
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from caffebatch.errors import NetError, PackageError
from caffebatch.model import load_model
from caffebatch.package import DeploymentMeta, PackageLimits, open_package, pack

LENET = Path(__file__).parents[1] / "reference" / "lenet"
FILES = ("deploy.prototxt", "lenet_iter_2000.caffemodel", "deployment-meta.json")


@pytest.fixture
def model(tmp_path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in FILES:
        shutil.copy(LENET / name, folder / name)
    return folder


@pytest.fixture
def workdir(tmp_path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def write_tar(
    path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz"
) -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def special_member(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def model_members(prefix: str = "model/") -> list[tuple[tarfile.TarInfo, bytes]]:
    return [file_member(prefix + name, (LENET / name).read_bytes()) for name in FILES]


# --- good packages -------------------------------------------------------------------


def test_a_model_folder(model):
    package = open_package(model)
    assert package.root == model and package.unpacked is None
    assert package.meta.input_layers == ("data",) and package.meta.output_layers == ("prob",)
    assert package.prototxt == model / "deploy.prototxt"
    assert package.weights == model / "lenet_iter_2000.caffemodel"


def test_a_folder_holding_the_model_folder(model):
    assert open_package(model.parent).root == model


def test_packed_tar_gz_with_model_folder_inside(model, tmp_path, workdir):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(pack(model))
    package = open_package(archive, workdir)
    assert package.root.name == "model" and package.root.parent == package.unpacked
    assert package.unpacked.parent == workdir
    assert package.weights.read_bytes() == (LENET / "lenet_iter_2000.caffemodel").read_bytes()


def test_plain_tar_with_files_at_the_top(tmp_path, workdir):
    archive = write_tar(tmp_path / "model.tar", model_members(prefix=""), mode="w")
    package = open_package(archive, workdir)
    assert package.root == package.unpacked
    assert package.prototxt.read_bytes() == (LENET / "deploy.prototxt").read_bytes()


def test_zip(tmp_path, workdir):
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model/", b"")
        for name in FILES:
            zf.write(LENET / name, f"model/{name}")
    package = open_package(archive, workdir)
    assert package.root.name == "model"
    assert package.meta.weights_file_name == "lenet_iter_2000.caffemodel"


def test_without_workdir_a_temporary_folder_is_made_and_left_to_the_caller(model, tmp_path):
    archive = tmp_path / "model.tgz"
    archive.write_bytes(pack(model))
    package = open_package(archive)
    try:
        assert package.weights.is_file()
    finally:
        shutil.rmtree(package.unpacked)


# --- deployment-meta.json ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input_layers": []}, "'input_layers' must be a non-empty list"),
        ({"output_layers": "prob"}, "'output_layers' must be a non-empty list"),
        ({"output_layers": ["prob", ""]}, "'output_layers' must hold non-empty strings"),
        ({"output_layers": ["prob", "prob"]}, "names a layer twice"),
        ({"weights_file_name": None}, "'weights_file_name' must be a file name"),
        ({"weights_file_name": "../lenet_iter_2000.caffemodel"}, "must be a plain file name"),
        ({"network_definitions_file_name": "/etc/passwd"}, "must be a plain file name"),
        (
            {"network_definitions_file_name": "other.prototxt"},
            "'other.prototxt', which the package lacks",
        ),
    ],
)
def test_meta_is_validated(model, change, message):
    meta = json.loads((model / "deployment-meta.json").read_text())
    meta.update(change)
    (model / "deployment-meta.json").write_text(json.dumps(meta))
    with pytest.raises(PackageError, match=message):
        open_package(model)


def test_meta_that_is_not_json(model):
    (model / "deployment-meta.json").write_text("{input_layers: data}")
    with pytest.raises(PackageError, match="not valid JSON"):
        open_package(model)


def test_meta_parses_on_its_own():
    meta = DeploymentMeta.from_json((LENET / "deployment-meta.json").read_bytes())
    assert meta.network_definitions_file_name == "deploy.prototxt"


def test_no_meta_and_two_metas_are_refused(model, tmp_path):
    (model / "deployment-meta.json").unlink()
    with pytest.raises(PackageError, match="holds no deployment-meta.json"):
        open_package(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(LENET / "deployment-meta.json", tmp_path / name)
    with pytest.raises(PackageError, match=r"several deployment-meta.json files, in \['a', 'b'\]"):
        open_package(tmp_path)


# --- hostile archives ----------------------------------------------------------------


HOSTILE = {
    "path traversal": ([file_member("model/../../evil.txt")], "goes up with '..'"),
    "absolute path": ([file_member("/tmp/caffebatch-evil.txt")], "absolute path"),
    "symlink": ([special_member("model/link", tarfile.SYMTYPE, "/etc/passwd")], "a symbolic link"),
    "hardlink": ([special_member("model/link", tarfile.LNKTYPE, "/etc/passwd")], "a hard link"),
    "character device": ([special_member("model/dev", tarfile.CHRTYPE)], "a character device"),
    "fifo": ([special_member("model/fifo", tarfile.FIFOTYPE)], "a FIFO"),
    "duplicate": ([file_member("model/a"), file_member("model/a")], "appears twice"),
}


@pytest.mark.parametrize("attack", HOSTILE, ids=list(HOSTILE))
def test_hostile_tar_is_refused_and_leaves_nothing(attack, tmp_path, workdir):
    members, message = HOSTILE[attack]
    archive = write_tar(tmp_path / "evil.tar.gz", model_members() + members)
    with pytest.raises(PackageError, match=message):
        open_package(archive, workdir)
    assert list(workdir.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_decompression_bomb_is_stopped_while_unpacking(tmp_path, workdir):
    archive = tmp_path / "bomb.tar.gz"
    # The header says 64 MiB, honestly; the archive is a few tens of KiB.
    write_tar(archive, [file_member("model/zeros", bytes(64 * 1024 * 1024))])
    assert archive.stat().st_size < 1024 * 1024
    with pytest.raises(PackageError, match="unpacks to more than 1048576 bytes"):
        open_package(archive, workdir, PackageLimits(max_unpacked_bytes=1024 * 1024))
    assert list(workdir.iterdir()) == []


def test_zip_whose_headers_lie_about_sizes_is_stopped(tmp_path, workdir):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model/zeros", bytes(8 * 1024 * 1024))
    # Rewrite the declared uncompressed size (local header and central directory) to 1 byte.
    data = bytearray(archive.read_bytes())
    real = (8 * 1024 * 1024).to_bytes(4, "little")
    assert data.count(real) == 2
    archive.write_bytes(bytes(data).replace(real, (1).to_bytes(4, "little")))
    with pytest.raises(PackageError, match="'model/zeros' cannot be unpacked .*CRC"):
        open_package(archive, workdir, PackageLimits(max_unpacked_bytes=1024 * 1024))
    assert list(workdir.iterdir()) == []


def test_too_many_entries(tmp_path, workdir):
    archive = write_tar(tmp_path / "many.tar.gz", [file_member(f"model/f{i}") for i in range(20)])
    with pytest.raises(PackageError, match="more than 10 entries"):
        open_package(archive, workdir, PackageLimits(max_files=10))
    assert list(workdir.iterdir()) == []


def test_oversized_archive(model, tmp_path, workdir):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(pack(model))
    with pytest.raises(PackageError, match="the limit is 1000"):
        open_package(archive, workdir, PackageLimits(max_archive_bytes=1000))
    assert list(workdir.iterdir()) == []


def test_zip_symlink_and_traversal_are_refused(tmp_path, workdir):
    link = zipfile.ZipInfo("model/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    for entry, message in [(link, "not a plain file"), (zipfile.ZipInfo("../evil.txt"), "goes up")]:
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(entry, b"/etc/passwd")
        with pytest.raises(PackageError, match=message):
            open_package(archive, workdir)
        assert list(workdir.iterdir()) == []


def test_not_an_archive(tmp_path, workdir):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(b"this is not an archive" * 100)
    with pytest.raises(PackageError, match="neither a folder nor"):
        open_package(path, workdir)


def test_missing_package(tmp_path):
    with pytest.raises(PackageError, match="does not exist"):
        open_package(tmp_path / "nothing.tar.gz")


# --- load_model: the package's deployment-meta.json against its net -----------------


def test_load_model_compiles_a_folder_and_its_archive(model, tmp_path):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(pack(model))
    for path in (model, archive):
        compiled = load_model(path)
        assert compiled.inputs == {"data": (1, 28, 28)} and compiled.outputs == ("prob",)


@pytest.mark.parametrize(
    ("field", "names", "message"),
    [
        ("input_layers", ["pixels"], r"input layer 'pixels', but the net's Input layers are \['data'\]"),
        ("output_layers", ["nope"], r"output 'nope' is neither a layer nor a blob"),
    ],
)
def test_load_model_refuses_layers_the_net_lacks(model, field, names, message):
    meta = json.loads((model / "deployment-meta.json").read_text())
    meta[field] = names
    (model / "deployment-meta.json").write_text(json.dumps(meta))
    with pytest.raises(NetError, match=message):
        load_model(model)
