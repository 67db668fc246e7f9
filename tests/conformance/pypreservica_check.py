#!/usr/bin/env python3
"""Conformance check: unmodified pyPreservica 4.2.2 against ferry's Preservica emulator.

Starts `ferry emulate preservica --seed 500 --server-version V` for each requested version,
drives it with pyPreservica over plain HTTP on 127.0.0.1 (the calls of section 14.4 of
shared/api/preservica.md), asserts the values that come back, and stops the emulator.

    python3 tests/conformance/pypreservica_check.py [--ferry target/debug/ferry]
        [--server-version 7.7.0 --server-version 8.1.0] [--timeout 300] [--verbose]

Prints one line per check and closes with `N passed, M failed`; exits 1 when anything failed.
Needs `pip install 'pyPreservica==4.2.2'`. See tests/conformance/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

DEFAULT_VERSIONS = ["7.7.0", "8.1.0"]
EXPECTED_PYPRESERVICA = "4.2.2"

DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_ELEMENTS = "http://purl.org/dc/elements/1.1/"
OPEX_NS = "http://www.openpreservationexchange.org/opex/v1.2"
CHECK_SCHEMA = "urn:ferry:conformance:pypreservica"
ROOT_TITLE = "ferry emulator archive"
SEED_ASSETS = 500
FOLDER_SIZE = 250
PAGE = 100  # pyPreservica's page size for children

# Only the local emulator may be reached: keep proxies, AWS config and instance metadata out.
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var), "127.0.0.1", "localhost"]))
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "PRESERVICA_USERNAME",
             "PRESERVICA_PASSWORD", "PRESERVICA_TENANT", "PRESERVICA_SERVER", "PRESERVICA_2FA_TOKEN"):
    os.environ.pop(_var, None)


class CheckFailed(AssertionError):
    pass


class CheckTimeout(Exception):
    pass


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def expect_eq(actual, wanted, what: str) -> None:
    if actual != wanted:
        raise CheckFailed(f"{what}: expected {wanted!r}, got {actual!r}")


# ---------------------------------------------------------------------------------------
# The emulator process.

_children: list[subprocess.Popen] = []
_children_lock = threading.Lock()
_workdirs: list[str] = []


@dataclass
class Emulator:
    proc: subprocess.Popen
    url: str
    server: str
    version: str
    username: str
    password: str
    tenant: str
    log_path: str

    def stop(self) -> None:
        stop_process(self.proc)

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    with _children_lock:
        if proc in _children:
            _children.remove(proc)


def start_emulator(ferry: str, version: str, workdir: str, extra: list[str] | None = None,
                   startup_timeout: float = 30.0) -> Emulator:
    log_path = os.path.join(workdir, f"emulator-{version}-{uuid.uuid4().hex[:8]}.log")
    log = open(log_path, "wb")
    cmd = [ferry, "emulate", "preservica", "--seed", str(SEED_ASSETS), "--server-version", version,
           "--listen", "127.0.0.1:0", *(extra or [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                            cwd=workdir)
    log.close()
    with _children_lock:
        _children.append(proc)
    lines: queue.Queue = queue.Queue()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    seen: dict[str, str] = {}
    first = None
    deadline = time.monotonic() + startup_timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the emulator printed nothing usable within {startup_timeout:.0f} s")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"the emulator exited (status {proc.wait()}) before it was ready")
            if first is None:
                first = line
                continue
            if line.startswith("Press Ctrl-C"):
                break
            parts = line.split()
            if len(parts) >= 2:
                seen[parts[0]] = parts[1]
        # First line: "Preservica emulator 7.7.0 listening on http://127.0.0.1:PORT"
        words = first.split()
        expect(first.startswith("Preservica emulator ") and "listening on" in first,
               f"unexpected first line from the emulator: {first!r}")
        url = words[-1]
        expect_eq(words[2], version, "version on the emulator's first line")
        split = urlsplit(url)
        expect(split.hostname == "127.0.0.1", f"the emulator listens on {url}, not 127.0.0.1")
        return Emulator(proc, url, split.netloc, version, seen["username"], seen["password"],
                        seen["tenant"], log_path)
    except BaseException:
        stop_process(proc)
        raise


# ---------------------------------------------------------------------------------------
# Running checks.

@dataclass
class Results:
    passed: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ok: bool, line: str) -> None:
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
            print(line, flush=True)


RESULTS = Results()


class S3Operations(logging.Handler):
    """Observes which S3 operations pyPreservica's boto3 client makes, from botocore's own
    debug log (`Making request for OperationModel(name=...)`)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.args and isinstance(record.args, tuple):
            name = getattr(record.args[0], "name", None)
            if isinstance(name, str) and str(record.msg).startswith("Making request for"):
                self.names.append(name)


S3_OPS = S3Operations()


def _alarm(signum, frame):
    raise CheckTimeout()


class Suite:
    """The checks for one server version; state flows from one check to the next."""

    def __init__(self, version: str, ferry: str, workdir: str, verbose: bool, check_timeout: int):
        self.version = version
        self.ferry = ferry
        self.workdir = workdir
        self.verbose = verbose
        self.check_timeout = check_timeout
        self.emu: Emulator | None = None
        self.client = None
        self.requests: list[tuple[str, str, int]] = []
        self.s: dict = {}

    # -- plumbing -----------------------------------------------------------------------

    def hook(self, response, *args, **kwargs):
        self.requests.append((response.request.method, response.request.url, response.status_code))
        return None

    def common(self, **over) -> dict:
        assert self.emu is not None
        args = dict(username=self.emu.username, password=self.emu.password, tenant=self.emu.tenant,
                    server=self.emu.server, protocol="http",
                    credentials_path=os.path.join(self.workdir, "no-credentials.properties"))
        args.update(over)
        return args

    def run(self, number: str, name: str, fn: Callable[[], str | None], needs: tuple[str, ...] = (),
            timeout: int | None = None) -> None:
        label = f"[{self.version}] {number} {name}"
        missing = [n for n in needs if n not in self.s]
        if missing:
            RESULTS.record(False, f"FAIL  {label}: not run, an earlier check did not provide {', '.join(missing)}")
            return
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(timeout or self.check_timeout)
        started = time.monotonic()
        try:
            detail = fn()
            signal.alarm(0)
            took = time.monotonic() - started
            RESULTS.record(True, f"PASS  {label}" + (f": {detail}" if detail else "") + f"  ({took:.1f} s)")
        except CheckTimeout:
            RESULTS.record(False, f"FAIL  {label}: timed out after {timeout or self.check_timeout} s")
        except BaseException as e:  # noqa: BLE001 - a check failing must not stop the others
            signal.alarm(0)
            if isinstance(e, KeyboardInterrupt):
                raise
            if isinstance(e, CheckFailed):
                reason = str(e)
            else:
                reason = f"{type(e).__name__}: {e}"
            RESULTS.record(False, f"FAIL  {label}: {reason}")
            if self.verbose:
                traceback.print_exc()
                if self.emu:
                    print(self.emu.log_tail(), file=sys.stderr)
        finally:
            signal.alarm(0)

    def requests_since(self, mark: int) -> list[tuple[str, str, int]]:
        return self.requests[mark:]

    # -- the suite ----------------------------------------------------------------------

    def execute(self) -> None:
        try:
            self.run("00", "emulator starts and prints its address", self.c_start)
            if self.emu is None:
                return
            self.run("01", "EntityAPI(...) logs in, reads version and user details", self.c_login)
            if self.client is None:
                return
            self.run("01b", "EntityAPI(tenant=None) learns the tenant (includeUserDetails)",
                     self.c_login_no_tenant)
            self.run("03", "descendants() of the root", self.c_root, needs=())
            self.run("02", "folder()/asset()/content_object() reads and 404", self.c_entities,
                     needs=("root", "series"))
            self.run("04", "children()/descendants() of a 250-child folder, 3 pages", self.c_paging,
                     needs=("series",))
            self.run("05", "metadata_for_entity(asset, oai_dc)", self.c_metadata, needs=("a0",))
            self.run("06", "add_metadata(asset, schema, xml)", self.c_add_metadata, needs=("a0",))
            self.run("06b", "add_metadata_as_fragment(asset, schema, raw xml)", self.c_add_fragment,
                     needs=("a0",))
            self.run("07", "update_metadata(asset, oai_dc, xml)", self.c_update_metadata,
                     needs=("a0", "added_schema"))
            self.run("08", "delete_metadata(asset, schema)", self.c_delete_metadata,
                     needs=("a0", "added_schema"))
            self.run("09", "identifiers_for_entity(asset)", self.c_identifiers, needs=("a0",))
            self.run("10", "add_identifier(asset, type, value)", self.c_add_identifier, needs=("a0",))
            self.run("10b", "update_identifiers(asset, type, value)", self.c_update_identifier,
                     needs=("a0", "added_id"))
            self.run("11", "identifier(type, value) lookup", self.c_lookup, needs=("a0", "added_id"))
            self.run("12", "delete_identifiers(asset, type, value)", self.c_delete_identifiers,
                     needs=("a0", "added_id"))
            self.run("15", "save(asset) with a changed title and description", self.c_save,
                     needs=("assets",))
            self.run("13", "updated_entities(previous_days=1) finds the saved asset",
                     self.c_updated, needs=("saved",))
            self.run("14", "create_folder(title, description, tag, parent)", self.c_create_folder,
                     needs=("root",))
            self.run("14b", "add_physical_asset(title, description, folder)", self.c_physical,
                     needs=("new_folder",))
            self.run("15b", "save(folder) with a changed description", self.c_save_folder,
                     needs=("new_folder",))
            self.run("16", "security_tag_async(asset, 'closed') and progress", self.c_security,
                     needs=("assets",))
            self.run("17", "move_sync(asset, folder)", self.c_move, needs=("assets", "new_folder"))
            self.run("16b", "security_tag_sync(folder, 'closed')", self.c_security_sync,
                     needs=("new_folder",))
            self.run("17b", "move_sync(folder, None) to the root and back", self.c_move_root,
                     needs=("root", "new_folder"))
            self.run("18", "bitstreams_for_asset(asset): representation/generation chain",
                     self.c_bitstreams, needs=("a0",))
            self.run("19", "bitstream_content(bitstream, file): SHA1/SHA256 match the fixity",
                     self.c_content, needs=("bitstream",))
            self.run("19b", "add_access_representation(asset, file), read back through "
                     "representations -> content_objects -> bitstream_content", self.c_access,
                     needs=("a0", "co"))
            self.run("20", "entity_events(asset): creation and every metadata edit", self.c_events,
                     needs=("a0",))
            self.run("20b", "entity_events of a save, a security change, a move; 31 events paged",
                     self.c_events_changes, needs=("assets", "root"))
            self.run("20c", "all_events(), all_ingest_events(), entity_from_event()",
                     self.c_all_events, needs=("a0", "new_folder"))
            self.run("21", "relationships(asset)", self.c_relationships, needs=("a0",))
            self.run("21b", "add_relation(), relationships() of both ends, delete_relationships()",
                     self.c_relations, needs=("a0", "assets", "new_folder"))
            self.run("21c", "relationships() of 30 links, 2 pages", self.c_relations_paging,
                     needs=("root", "series1_refs"))
            self.run("22", "thumbnail(asset) is an image; a folder's gives None", self.c_thumbnail,
                     needs=("a0", "new_folder"))
            self.run("23", "user_security_tags()", self.c_tags)
            self.run("29", "UploadAPI().upload_zip_package(OPEX zip, folder) then SourceID lookup",
                     self.c_upload, needs=("new_folder",), timeout=max(self.check_timeout, 90))
            self.run("29b", "upload_zip_package of a 33 MB package (S3 multipart)", self.c_upload_multipart,
                     needs=("new_folder",), timeout=max(self.check_timeout, 120))
            self.run("32", "EntityAPI(password=bad) raises RuntimeError(401)", self.c_bad_login)
            self.run("32b", "EntityAPI(tenant=wrong) raises RuntimeError(401)", self.c_bad_tenant)
        finally:
            if self.emu is not None:
                self.emu.stop()
        # A second emulator whose tokens live 2 s.
        self.run("24", "expired token: 401, re-login, same request replayed", self.c_expired,
                 timeout=max(self.check_timeout, 60))

    # -- checks -------------------------------------------------------------------------

    def c_start(self):
        self.emu = start_emulator(self.ferry, self.version, self.workdir)
        return f"{self.emu.url} tenant {self.emu.tenant}"

    def c_login(self):
        from pyPreservica import EntityAPI
        mark = len(self.requests)
        client = EntityAPI(**self.common(request_hook=self.hook))
        major, minor = (int(x) for x in self.version.split(".")[:2])
        expect_eq(client.version, self.version, "server version read by pyPreservica")
        expect_eq((client.major_version, client.minor_version), (major, minor), "major/minor")
        expect_eq(client.xip_ns, f"http://preservica.com/XIP/v{major}.{minor}", "XIP namespace")
        expect_eq(client.entity_ns, f"http://preservica.com/EntityAPI/v{major}.{minor}",
                  "EntityAPI namespace")
        expect(isinstance(client.roles, list) and "ROLE_SDB_MANAGER_USER" in client.roles,
               f"user details roles lack ROLE_SDB_MANAGER_USER: {client.roles!r}")
        expect(bool(client.token), "no token")
        # The hook sees only session requests: version and user details after the login.
        paths = [urlsplit(u).path for (_, u, _) in self.requests_since(mark)]
        expect_eq(paths, ["/api/entity/versiondetails/version", "/api/user/details"],
                  "start-up requests after login")
        self.client = client
        return f"token {client.token[:8]}…, roles {','.join(client.roles)}"

    def c_root(self):
        from pyPreservica import EntityType
        top = list(self.client.descendants())
        expect_eq(len(top), 1, "number of root folders")
        root = top[0]
        expect_eq(root.entity_type, EntityType.FOLDER, "root child type")
        expect_eq(root.title, ROOT_TITLE, "root folder title")
        paged = self.client.children(root.reference)
        titles = sorted(f.title for f in paged.results)
        want = [f"Series {n}" for n in range(1, SEED_ASSETS // FOLDER_SIZE + 1)]
        expect_eq(titles, want, "series folders under the root folder")
        expect_eq(paged.total, len(want), "TotalResults of the root folder's children")
        expect(not paged.has_more, "a 2-child listing claims a next page")
        expect(all(f.entity_type == EntityType.FOLDER for f in paged.results), "series are not folders")
        self.s["root"] = root.reference
        self.s["series"] = {f.title: f.reference for f in paged.results}
        return f"root {root.reference}"

    def c_entities(self):
        from pyPreservica import EntityType, ReferenceNotFoundException
        c = self.client
        root = c.folder(self.s["root"])
        expect_eq(root.title, ROOT_TITLE, "root title")
        expect_eq(root.parent, None, "root parent")
        expect_eq(root.security_tag, "open", "root security tag")
        expect_eq(root.entity_type, EntityType.FOLDER, "root entity type")
        s1 = c.folder(self.s["series"]["Series 1"])
        expect_eq(s1.title, "Series 1", "Series 1 title")
        expect_eq(s1.parent, self.s["root"], "Series 1 parent")
        expect_eq(s1.security_tag, "open", "Series 1 security tag")
        # Seeded assets, found by their `code` identifiers.
        assets = {}
        for i in (0, 1, 2, 3, 10):
            found = c.identifier("code", f"FERRY-{i:05d}")
            expect_eq(len(found), 1, f"entities with code FERRY-{i:05d}")
            assets[i] = next(iter(found)).reference
        a0 = c.asset(assets[0])
        expect_eq(a0.reference, assets[0], "asset ref")
        expect_eq(a0.entity_type, EntityType.ASSET, "asset entity type")
        expect_eq(a0.parent, s1.reference, "asset parent")
        expect_eq(a0.security_tag, "open", "asset security tag")
        expect(bool(a0.title) and " at the " in a0.title, f"unexpected seeded title {a0.title!r}")
        expect(bool(a0.description), "asset has no description")
        expect(DC_NS in a0.metadata.values(), f"asset fragments {a0.metadata!r} lack oai_dc")
        expect(all(u.startswith(self.emu.url + "/api/entity/information-objects/" + a0.reference + "/metadata/")
                   for u in a0.metadata), f"fragment URLs do not lead back here: {list(a0.metadata)}")
        # The content object, from the asset's representation.
        reps = c.representations(a0)
        expect_eq([r.rep_type.value for r in reps], ["Preservation"], "representation types")
        cos = c.content_objects(next(iter(reps)))
        expect_eq(len(cos), 1, "content objects in the Preservation representation")
        co = c.content_object(cos[0].reference)
        expect_eq(co.entity_type, EntityType.CONTENT_OBJECT, "content object entity type")
        expect_eq(co.title, "IMG_00000.jpg", "content object title")
        expect_eq(co.parent, a0.reference, "content object parent")
        expect_eq(co.security_tag, "open", "content object security tag")
        # Unknown refs are 404 -> ReferenceNotFoundException, for each kind.
        for fn in (c.asset, c.folder, c.content_object):
            try:
                fn(str(uuid.uuid4()))
            except ReferenceNotFoundException:
                pass
            else:
                raise CheckFailed(f"{fn.__name__}(unknown ref) did not raise ReferenceNotFoundException")
        # An asset's ref read as a folder is not found either.
        try:
            c.folder(a0.reference)
        except ReferenceNotFoundException:
            pass
        else:
            raise CheckFailed("folder(<asset ref>) did not raise ReferenceNotFoundException")
        self.s["a0"] = a0
        self.s["co"] = co.reference
        self.s["assets"] = assets
        return f"asset {a0.reference}, content object {co.reference}"

    def c_paging(self):
        from pyPreservica import EntityType
        c = self.client
        s1 = self.s["series"]["Series 1"]
        first = c.children(s1, maximum=PAGE)
        expect_eq(len(first.results), PAGE, "first page size")
        expect_eq(first.total, FOLDER_SIZE, "TotalResults")
        expect(first.has_more and first.next_page, "first page has no Next")
        mark = len(self.requests)
        everything = list(c.descendants(s1))
        expect_eq(len(everything), FOLDER_SIZE, "descendants() count")
        refs = {e.reference for e in everything}
        expect_eq(len(refs), FOLDER_SIZE, "distinct refs across pages")
        expect(all(e.entity_type == EntityType.ASSET for e in everything), "a Series child is not an asset")
        expect(self.s.get("a0") is None or self.s["a0"].reference in refs, "FERRY-00000 is not in Series 1")
        pages = []
        for method, url, status in self.requests_since(mark):
            parts = urlsplit(url)
            expect(parts.netloc == self.emu.server, f"a Next URL left the emulator: {url}")
            expect(parts.path.endswith(f"/structural-objects/{s1}/children"), f"unexpected request {url}")
            q = parse_qs(parts.query)
            pages.append((q.get("start", ["?"])[0], q.get("max", ["?"])[0], status))
        expect_eq(pages, [("0", "100", 200), ("100", "100", 200), ("200", "100", 200)],
                  "children pages requested (start, max, status)")
        self.s["series1_refs"] = refs
        return "pages start=0,100,200 of 250"

    def c_metadata(self):
        a0 = self.s["a0"]
        text = self.client.metadata_for_entity(a0, DC_NS)
        expect(text is not None, "no oai_dc fragment returned")
        doc = ET.fromstring(text)
        expect_eq(doc.tag, f"{{{DC_NS}}}dc", "root element of the oai_dc fragment")
        expect_eq(doc.findtext(f"{{{DC_ELEMENTS}}}identifier"), "FERRY-00000", "dc:identifier")
        expect_eq(doc.findtext(f"{{{DC_ELEMENTS}}}title"), a0.title, "dc:title vs the asset title")
        expect(doc.findtext(f"{{{DC_ELEMENTS}}}creator"), "dc:creator missing")
        expect_eq(self.client.metadata_for_entity(a0, "urn:nothing:here"), None, "unknown schema")
        return None

    def c_add_metadata(self):
        a0 = self.s["a0"]
        value = f"added-{uuid.uuid4().hex[:8]}"
        doc = (f'<c:conformance xmlns:c="{CHECK_SCHEMA}"><c:check>add</c:check>'
               f'<c:value>{value}</c:value></c:conformance>')
        updated = self.client.add_metadata(a0, CHECK_SCHEMA, doc)
        schemas = list(updated.metadata.values())
        expect(CHECK_SCHEMA in schemas, f"the new schema is not on the entity: {schemas}")
        expect(DC_NS in schemas, f"oai_dc disappeared: {schemas}")
        back = ET.fromstring(self.client.metadata_for_entity(updated, CHECK_SCHEMA))
        expect_eq(back.tag, f"{{{CHECK_SCHEMA}}}conformance", "added document root")
        expect_eq(back.findtext(f"{{{CHECK_SCHEMA}}}value"), value, "added value read back")
        expect_eq(back.findtext(f"{{{CHECK_SCHEMA}}}check"), "add", "added element read back")
        self.s["a0"] = updated
        self.s["added_schema"] = CHECK_SCHEMA
        return None

    def c_update_metadata(self):
        a0 = self.s["a0"]
        before_urls = {u for u, s in a0.metadata.items() if s == DC_NS}
        old = ET.fromstring(self.client.metadata_for_entity(a0, DC_NS))
        kept_before = [(e.tag, e.text) for e in old if e.tag != f"{{{DC_ELEMENTS}}}title"]
        new_title = f"Retitled by pyPreservica {uuid.uuid4().hex[:6]}"
        old.find(f"{{{DC_ELEMENTS}}}title").text = new_title
        updated = self.client.update_metadata(a0, DC_NS, ET.tostring(old, encoding="unicode"))
        after_urls = {u for u, s in updated.metadata.items() if s == DC_NS}
        expect_eq(after_urls, before_urls, "oai_dc fragment URL after an update")
        back = ET.fromstring(self.client.metadata_for_entity(updated, DC_NS))
        expect_eq(back.findtext(f"{{{DC_ELEMENTS}}}title"), new_title, "dc:title after update")
        kept_after = [(e.tag, e.text) for e in back if e.tag != f"{{{DC_ELEMENTS}}}title"]
        expect_eq(kept_after, kept_before, "the other oai_dc elements")
        expect(CHECK_SCHEMA in updated.metadata.values(), "the other fragment disappeared")
        self.s["a0"] = updated
        return None

    def c_delete_metadata(self):
        a0 = self.s["a0"]
        updated = self.client.delete_metadata(a0, CHECK_SCHEMA)
        expect(CHECK_SCHEMA not in updated.metadata.values(), "the fragment is still listed")
        expect(DC_NS in updated.metadata.values(), "oai_dc went too")
        fresh = self.client.asset(a0.reference)
        expect_eq(self.client.metadata_for_entity(fresh, CHECK_SCHEMA), None, "deleted fragment")
        self.s["a0"] = fresh
        return None

    def c_identifiers(self):
        ids = self.client.identifiers_for_entity(self.s["a0"])
        expect_eq(ids, {("code", "FERRY-00000")}, "identifiers of FERRY-00000")
        return None

    def c_add_identifier(self):
        a0 = self.s["a0"]
        value = f"conf-{uuid.uuid4().hex[:10]}"
        api_id = self.client.add_identifier(a0, "conformance", value)
        expect(isinstance(api_id, str) and api_id.strip() != "", f"no ApiId returned: {api_id!r}")
        ids = self.client.identifiers_for_entity(a0)
        expect_eq(ids, {("code", "FERRY-00000"), ("conformance", value)}, "identifiers after add")
        self.s["added_id"] = ("conformance", value, api_id)
        return f"ApiId {api_id}"

    def c_lookup(self):
        from pyPreservica import EntityType
        a0 = self.s["a0"]
        kind, value, _ = self.s["added_id"]
        found = self.client.identifier(kind, value)
        expect_eq([(e.reference, e.entity_type) for e in found], [(a0.reference, EntityType.ASSET)],
                  "entities with the added identifier")
        expect_eq(next(iter(found)).title, a0.title, "title in the by-identifier answer")
        other = self.client.identifier("code", f"FERRY-{SEED_ASSETS - 1:05d}")
        expect_eq(len(other), 1, "entities with the last seeded code")
        last = self.client.asset(next(iter(other)).reference)
        expect_eq(last.parent, self.s["series"][f"Series {SEED_ASSETS // FOLDER_SIZE}"],
                  "parent of the last seeded asset")
        expect_eq(self.client.identifier("code", "no-such-code"), set(), "unknown identifier")
        return None

    def c_delete_identifiers(self):
        a0 = self.s["a0"]
        kind, value, _ = self.s["added_id"]
        self.client.delete_identifiers(a0, kind, value)
        expect_eq(self.client.identifiers_for_entity(a0), {("code", "FERRY-00000")},
                  "identifiers after delete")
        expect_eq(self.client.identifier(kind, value), set(), "lookup of the deleted identifier")
        return None

    def c_save(self):
        ref = self.s["assets"][1]
        a1 = self.client.asset(ref)
        tag, parent = a1.security_tag, a1.parent
        a1.title = f"Saved by pyPreservica {uuid.uuid4().hex[:6]}"
        a1.description = "Description changed through EntityAPI.save"
        returned = self.client.save(a1)
        expect_eq(returned.reference, ref, "ref returned by save")
        expect_eq(returned.title, a1.title, "title returned by save")
        expect_eq(returned.description, a1.description, "description returned by save")
        fresh = self.client.asset(ref)
        expect_eq((fresh.title, fresh.description), (a1.title, a1.description), "title/description re-read")
        expect_eq((fresh.security_tag, fresh.parent), (tag, parent), "security tag/parent after save")
        self.s["saved"] = fresh
        return None

    def c_updated(self):
        from pyPreservica import EntityType
        saved = self.s["saved"]
        mark = len(self.requests)
        changed = list(self.client.updated_entities(previous_days=1))
        by_ref = {e.reference: e for e in changed}
        expect(saved.reference in by_ref, "the saved asset is not among the updated entities")
        expect_eq(by_ref[saved.reference].title, saved.title, "title of the updated entity")
        expect_eq(by_ref[saved.reference].entity_type, EntityType.ASSET, "type of the updated entity")
        untouched = self.s["assets"][10]
        expect(untouched not in by_ref, "an untouched seeded asset is listed as updated")
        reqs = self.requests_since(mark)
        expect(reqs and urlsplit(reqs[0][1]).path == "/api/entity/entities/updated-since",
               f"unexpected first request {reqs[:1]}")
        q = parse_qs(urlsplit(reqs[0][1]).query)
        expect_eq((q.get("start"), q.get("max")), (["0"], ["25"]), "updated-since paging parameters")
        return f"{len(changed)} updated entities"

    def c_create_folder(self):
        c = self.client
        title = f"Conformance folder {uuid.uuid4().hex[:6]}"
        f = c.create_folder(title, "Made by pyPreservica", "open", parent=self.s["root"])
        expect(bool(f.reference), "no ref")
        expect_eq((f.title, f.description, f.security_tag, f.parent),
                  (title, "Made by pyPreservica", "open", self.s["root"]), "created folder")
        again = c.folder(f.reference)
        expect_eq((again.title, again.description, again.security_tag, again.parent),
                  (title, "Made by pyPreservica", "open", self.s["root"]), "created folder re-read")
        under_root = {x.reference: x.title for x in c.descendants(self.s["root"])}
        expect_eq(under_root.get(f.reference), title, "the new folder among the root folder's children")
        self.s["new_folder"] = again
        return f.reference

    def c_security(self):
        c = self.client
        ref = self.s["assets"][2]
        a2 = c.asset(ref)
        expect_eq(a2.security_tag, "open", "security tag before")
        pid = c.security_tag_async(a2, "closed")
        expect(isinstance(pid, str) and pid.strip() != "", f"no progress token: {pid!r}")
        deadline = time.monotonic() + 30
        status = c.get_async_progress(pid)
        while status == "ACTIVE" and time.monotonic() < deadline:
            time.sleep(0.5)
            status = c.get_async_progress(pid)
        expect_eq(status, "COMPLETED", "progress status")
        expect_eq(c.asset(ref).security_tag, "closed", "security tag after")
        return f"token {pid}"

    def c_move(self):
        c = self.client
        ref = self.s["assets"][3]
        dest = self.s["new_folder"]
        a3 = c.asset(ref)
        moved = c.move_sync(a3, dest)
        expect_eq(moved.reference, ref, "ref after move")
        expect_eq(moved.parent, dest.reference, "parent after move")
        inside = {x.reference for x in c.descendants(dest.reference)}
        expect(ref in inside, "the moved asset is not listed in its new folder")
        left = {x.reference for x in c.descendants(self.s["series"]["Series 1"])}
        expect(ref not in left, "the moved asset is still listed in its old folder")
        expect_eq(len(left), FOLDER_SIZE - 1, "Series 1 size after the move")
        return None

    def c_bitstreams(self):
        c = self.client
        a0 = self.s["a0"]
        mark = len(self.requests)
        bitstreams = list(c.bitstreams_for_asset(a0))
        expect_eq(len(bitstreams), 1, "bitstreams of FERRY-00000")
        bs = bitstreams[0]
        expect_eq(bs.filename, "IMG_00000.jpg", "bitstream filename")
        expect(bs.length > 0, "bitstream length")
        expect(set(bs.fixity) >= {"SHA1", "SHA256"}, f"fixities {bs.fixity!r}")
        expect(all(len(v) in (40, 64) for v in bs.fixity.values()), f"fixity values {bs.fixity!r}")
        expect_eq((bs.gen_index, bs.bs_index), (1, 1), "generation/bitstream index")
        expect_eq(bs.content_object.reference, self.s["co"], "content object of the bitstream")
        expect_eq(bs.representation.rep_type.value, "Preservation", "representation type")
        expect(bs.generation.original and bs.generation.active, "generation 1 not original+active")
        expect(bs.content_url and bs.content_url.startswith(self.emu.url) and bs.content_url.endswith(
            f"/content-objects/{self.s['co']}/generations/1/bitstreams/1/content"),
            f"content URL {bs.content_url!r}")
        paths = [urlsplit(u).path.replace(f"/api/entity/information-objects/{a0.reference}", "IO")
                 .replace(f"/api/entity/content-objects/{self.s['co']}", "CO")
                 for (_, u, _) in self.requests_since(mark)]
        expect_eq(paths, ["IO/representations", "IO/representations/Preservation/1", "CO",
                          "CO/generations", "CO/generations/1", "CO/generations/1/bitstreams/1"],
                  "request chain")
        self.s["bitstream"] = bs
        return f"{bs.length} bytes, fixities {','.join(sorted(bs.fixity))}"

    def c_content(self):
        bs = self.s["bitstream"]
        path = os.path.join(self.workdir, f"bitstream-{self.version}.bin")
        n = self.client.bitstream_content(bs, path)
        expect_eq(n, bs.length, "bytes written")
        with open(path, "rb") as f:
            data = f.read()
        expect_eq(len(data), bs.length, "file size")
        expect_eq(hashlib.sha1(data).hexdigest(), bs.fixity["SHA1"].lower(), "SHA1 of the bytes")
        expect_eq(hashlib.sha256(data).hexdigest(), bs.fixity["SHA256"].lower(), "SHA256 of the bytes")
        expect(data[:3] == b"\xff\xd8\xff", "not a JPEG")
        return f"sha1 {bs.fixity['SHA1'][:12]}…"

    def c_access(self):
        from pyPreservica import RepresentationType
        c = self.client
        a0 = self.s["a0"]
        data = b"\x89PNG\r\n\x1a\n" + hashlib.sha256(a0.reference.encode()).digest() * 64
        name = f"access-{self.version}.png"
        path = os.path.join(self.workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        token = c.add_access_representation(a0, path, name="Access copy")
        expect(isinstance(token, str) and token.strip() != "", f"no progress token: {token!r}")
        expect_eq(c.get_async_progress(token), "COMPLETED", "progress of the new representation")
        reps = {r.rep_type.value: r for r in c.representations(a0)}
        expect_eq(sorted(reps), ["Access", "Preservation"], "representation types")
        access = reps["Access"]
        expect_eq(access.name, "Access copy", "name of the access representation")
        expect(access.url.startswith(self.emu.url) and access.url.endswith(
            f"/information-objects/{a0.reference}/representations/Access/1"), f"URL {access.url!r}")
        cos = c.content_objects(access)
        expect_eq(len(cos), 1, "content objects in the access representation")
        co = cos[0]
        expect_eq((co.title, co.parent, co.security_tag), (name, a0.reference, a0.security_tag),
                  "content object of the access copy")
        gens = c.generations(co)
        expect_eq([(g.original, g.active) for g in gens], [(True, True)], "generations (original, active)")
        bitstreams = gens[0].bitstreams
        expect_eq([(b.filename, b.length) for b in bitstreams], [(name, len(data))], "bitstreams")
        bs = bitstreams[0]
        expect_eq(bs.fixity.get("SHA1", "").lower(), hashlib.sha1(data).hexdigest(), "SHA1 fixity")
        expect_eq(bs.fixity.get("SHA256", "").lower(), hashlib.sha256(data).hexdigest(), "SHA256 fixity")
        back = os.path.join(self.workdir, f"access-back-{self.version}.png")
        expect_eq(c.bitstream_content(bs, back), len(data), "bytes downloaded")
        with open(back, "rb") as f:
            expect(f.read() == data, "the downloaded access copy differs from the uploaded file")
        kept = [x.reference for x in c.content_objects(reps["Preservation"])]
        expect_eq(kept, [self.s["co"]], "content objects of the preservation representation")
        expect_eq(c.set_representation_name(a0, "Renamed copy", RepresentationType.Access),
                  "Renamed copy", "set_representation_name")
        names = {r.rep_type.value: r.name for r in c.representations(a0)}
        expect_eq(names, {"Access": "Renamed copy", "Preservation": "Preservation"}, "names after rename")
        return f"{len(data)} bytes in content object {co.reference}"

    def c_events(self):
        a0 = self.s["a0"]
        mark = len(self.requests)
        events = list(self.client.entity_events(a0))
        # What checks 06-12 and 19b did to this asset, in order.
        wanted = ["command_create", "AddMetadata", "AddMetadata", "DeleteMetadata", "UpdateMetadata",
                  "DeleteMetadata", "AddIdentifier", "UpdateIdentifier", "DeleteIdentifier",
                  "AddRepresentation", "RenameRepresentation"]
        expect_eq([e["commandType"] for e in events], wanted, "commandType of each event action")
        expect(all(e.get("User") == self.emu.username for e in events), f"users {events!r}")
        expect(events[0]["Date"].startswith("2024-01-01T"), f"seeded creation date {events[0]!r}")
        dates = [e["Date"] for e in events]
        expect_eq(dates, sorted(dates), "dates oldest first")
        refs = [e.get("Ref") for e in events]
        expect(all(refs) and len(set(refs)) == len(refs), f"event refs {refs!r}")
        reqs = self.requests_since(mark)
        expect(reqs and urlsplit(reqs[0][1]).path.endswith(f"/information-objects/{a0.reference}/event-actions"),
               f"unexpected first request {reqs[:1]}")
        q = parse_qs(urlsplit(reqs[0][1]).query)
        expect_eq((q.get("start"), q.get("max")), (["0"], ["25"]), "event-actions paging parameters")
        return f"{len(events)} events"

    def c_events_changes(self):
        c = self.client
        assets = self.s["assets"]

        def commands(entity):
            return [e["commandType"] for e in c.entity_events(entity)]

        expect_eq(commands(c.asset(assets[1])), ["command_create", "UpdateEntity"], "saved asset (15)")
        expect_eq(commands(c.asset(assets[2])), ["command_create", "UpdateSecurityDescriptor"],
                  "asset whose security tag changed (16)")
        expect_eq(commands(c.asset(assets[3])), ["command_create", "MoveEntity"], "moved asset (17)")
        expect_eq(commands(c.asset(assets[10])), ["command_create"], "untouched asset")
        folder = c.create_folder("Often renamed", "31 events", "open", parent=self.s["root"])
        for i in range(30):
            folder.title = f"Renamed {i}"
            folder = c.save(folder)
        mark = len(self.requests)
        expect_eq(commands(folder), ["command_create"] + ["UpdateEntity"] * 30, "folder saved 30 times")
        pages = [(parse_qs(urlsplit(u).query).get("start"), parse_qs(urlsplit(u).query).get("max"))
                 for (_, u, _) in self.requests_since(mark) if urlsplit(u).path.endswith("/event-actions")]
        expect_eq(pages, [(["0"], ["25"]), (["25"], ["25"])], "event-actions pages (start, max)")
        return None

    def c_all_events(self):
        c = self.client
        everything = list(c.all_events())
        seeded = 1 + SEED_ASSETS // FOLDER_SIZE + 2 * SEED_ASSETS  # folders, assets, content objects
        kinds = {}
        for e in everything:
            kinds[e["eventType"]] = kinds.get(e["eventType"], 0) + 1
        expect(kinds.get("Ingest", 0) > seeded, f"Ingest events {kinds}")
        expect(kinds.get("Moved", 0) >= 3, f"Moved events {kinds}")
        expect(kinds.get("Modified", 0) >= 40, f"Modified events {kinds}")
        expect(all(e.get("User") == self.emu.username and e.get("Date") for e in everything),
               "an event without user or date")
        refs = [e["Ref"] for e in everything]
        expect_eq(len(set(refs)), len(refs), "distinct event refs")
        a0_events = list(c.entity_events(self.s["a0"]))
        last = a0_events[-1]
        expect(last["Ref"] in refs, "the asset's last event is not among all events")
        found = list(c.entity_from_event(last["Ref"]))
        expect_eq([(x["EventType"], x["Entity"]) for x in found], [("Modified", self.s["a0"].reference)],
                  "entity_from_event")
        today = list(c.all_ingest_events(previous_days=1))
        expect(today and all(e["eventType"] == "Ingest" for e in today), f"ingest events {today[:3]!r}")
        today_refs = {e["Ref"] for e in today}
        created = list(c.entity_events(self.s["new_folder"]))[0]
        expect(created["Ref"] in today_refs, "today's folder creation is not among today's ingest events")
        expect(a0_events[0]["Ref"] not in today_refs, "a seeded creation (2024) is among today's events")
        return f"{len(everything)} events, {len(today)} ingest events today"

    def c_relationships(self):
        rels = list(self.client.relationships(self.s["a0"]))
        expect_eq(rels, [], "relationships of a seeded asset")
        return None

    def c_relations(self):
        from pyPreservica import Relationship
        c = self.client
        a0 = c.asset(self.s["a0"].reference)
        a10 = c.asset(self.s["assets"][10])
        folder = c.folder(self.s["new_folder"].reference)
        refs, part_of = Relationship.DCMI_references, Relationship.DCMI_isPartOf
        expect_eq(c.add_relation(a0, refs, a10), refs, "type returned by add_relation")
        expect_eq(c.add_relation(a0, part_of, folder), part_of, "type returned by add_relation")

        def view(entity):
            out = []
            for r in c.relationships(entity):
                expect_eq(r.this_ref, entity.reference, "this_ref of a relationship")
                expect(bool(r.api_id), "a relationship without apiId")
                out.append((r.relationship_type, r.direction.value, r.other_ref, r.entity_type.value, r.title))
            return sorted(out)

        expect_eq(view(a0), sorted([(refs, "From", a10.reference, "IO", a10.title),
                                    (part_of, "From", folder.reference, "SO", folder.title)]),
                  "relationships of the source")
        expect_eq(view(a10), [(refs, "To", a0.reference, "IO", a0.title)], "relationships of the target asset")
        expect_eq(view(folder), [(part_of, "To", a0.reference, "IO", a0.title)],
                  "relationships of the target folder")
        c.delete_relationships(a0, refs)
        expect_eq(view(a0), [(part_of, "From", folder.reference, "SO", folder.title)],
                  "relationships of the source after delete_relationships")
        expect_eq(view(a10), [], "relationships of the target after delete_relationships")
        commands = [e["commandType"] for e in c.entity_events(a0)][-3:]
        expect_eq(commands, ["AddLink", "AddLink", "DeleteLink"], "the source's last events")
        return None

    def c_relations_paging(self):
        from pyPreservica import Relationship
        c = self.client
        source = c.create_folder("Links source", "30 links", "open", parent=self.s["root"])
        targets = sorted(self.s["series1_refs"])[:30]
        for ref in targets:
            c.add_relation(source, Relationship.DCMI_hasPart, c.asset(ref))
        mark = len(self.requests)
        rels = list(c.relationships(source))
        expect_eq(sorted(r.other_ref for r in rels), targets, "linked refs across pages")
        expect(all(r.direction.value == "From" and r.entity_type.value == "IO" for r in rels),
               "direction/type of the links")
        pages = [(parse_qs(urlsplit(u).query).get("start"), parse_qs(urlsplit(u).query).get("max"))
                 for (_, u, _) in self.requests_since(mark)]
        expect_eq(pages, [(["0"], ["25"]), (["25"], ["25"])], "links pages (start, max)")
        back = list(c.relationships(c.asset(targets[0])))
        expect_eq([(r.direction.value, r.other_ref, r.entity_type.value) for r in back],
                  [("To", source.reference, "SO")], "the link seen from a target")
        return None

    def c_thumbnail(self):
        # A seeded asset holds a picture: its thumbnail is an image file.
        path = os.path.join(self.workdir, "thumb.img")
        got = self.client.thumbnail(self.s["a0"], path)
        expect_eq(got, path, "thumbnail() of an asset with a picture")
        with open(path, "rb") as f:
            head = f.read(8)
        expect(head.startswith(b"\xff\xd8") or head.startswith(b"\x89PNG"),
               f"thumbnail file starts {head!r}, not an image")
        expect_eq(self.client.has_thumbnail(self.s["a0"]), True, "has_thumbnail() with a picture")
        # A folder has no picture: 404, which pyPreservica reads as None.
        folder = self.s["new_folder"]
        expect_eq(self.client.thumbnail(folder, os.path.join(self.workdir, "none.img")), None,
                  "thumbnail() of a folder")
        expect_eq(self.client.has_thumbnail(folder), False, "has_thumbnail() of a folder")
        return os.path.getsize(path)

    def c_tags(self):
        tags = self.client.user_security_tags()
        expect(set(tags) >= {"open", "closed"}, f"security tags {tags!r}")
        return ",".join(sorted(tags))

    def c_upload(self):
        source_id = f"ferry-conformance-{uuid.uuid4().hex[:12]}"
        image = b"\xff\xd8\xff\xe0" + hashlib.sha256(source_id.encode()).digest() * 40 + b"\xff\xd9"
        return self.upload_and_find(source_id, image)

    def c_upload_multipart(self):
        source_id = f"ferry-conformance-{uuid.uuid4().hex[:12]}"
        # Incompressible and stored, so the zip is past pyPreservica's 32 MB multipart threshold.
        image = b"\xff\xd8\xff\xe0" + os.urandom(33 * 1024 * 1024) + b"\xff\xd9"
        return self.upload_and_find(source_id, image, compress=False)

    def upload_and_find(self, source_id: str, image: bytes, compress: bool = True) -> str:
        from pyPreservica import UploadAPI
        c = self.client
        folder = self.s["new_folder"]
        title = f"Uploaded through pyPreservica {source_id[-6:]}"
        zip_path, image_name = build_opex_package(self.workdir, source_id, title, image, compress)
        upload = UploadAPI(**self.common())
        first_op = len(S3_OPS.names)
        token = upload.upload_zip_package(zip_path, folder=folder.reference)
        expect(isinstance(token, str) and token.strip() != "", f"no progress token: {token!r}")
        ops = S3_OPS.names[first_op:]
        parts = -(-os.path.getsize(zip_path) // (8 * 1024 * 1024))
        if os.path.getsize(zip_path) < 32 * 1024 * 1024:
            expect_eq(ops, ["PutObject"], "S3 operations")
        else:
            expect_eq(ops, ["CreateMultipartUpload"] + ["UploadPart"] * parts + ["CompleteMultipartUpload"],
                      "S3 operations")
        deadline = time.monotonic() + 45
        found = set()
        while time.monotonic() < deadline:
            found = c.identifier("SourceID", source_id)
            if found:
                break
            time.sleep(0.5)
        expect_eq(len(found), 1, f"entities with SourceID {source_id} after ingest")
        ref = next(iter(found)).reference
        asset = c.asset(ref)
        expect_eq(asset.title, title, "title of the ingested asset")
        expect_eq(asset.parent, folder.reference, "parent of the ingested asset")
        expect_eq(asset.security_tag, "open", "security tag of the ingested asset")
        expect(("SourceID", source_id) in c.identifiers_for_entity(asset), "SourceID identifier missing")
        bitstreams = list(c.bitstreams_for_asset(asset))
        expect_eq([b.filename for b in bitstreams], [image_name], "ingested bitstreams")
        bs = bitstreams[0]
        expect_eq(bs.length, len(image), "ingested file size")
        expect_eq(bs.fixity.get("SHA1", "").lower(), hashlib.sha1(image).hexdigest(), "ingested SHA1")
        path = os.path.join(self.workdir, f"ingested-{self.version}.jpg")
        c.bitstream_content(bs, path)
        with open(path, "rb") as f:
            expect(f.read() == image, "ingested bytes differ from the uploaded ones")
        return f"asset {ref}, S3 {'+'.join(sorted(set(ops)))}, progress token {token}"

    def c_bad_login(self):
        from pyPreservica import EntityAPI
        try:
            EntityAPI(**self.common(password="not-the-password"))
        except RuntimeError as e:
            expect(len(e.args) >= 1 and e.args[0] == 401, f"RuntimeError args {e.args!r}")
            return f"RuntimeError{e.args!r}"
        raise CheckFailed("a bad password logged in")

    def c_login_no_tenant(self):
        from pyPreservica import EntityAPI
        client = EntityAPI(**self.common(tenant=None))
        expect_eq(client.tenant, self.emu.tenant, "tenant from the login answer")
        expect_eq(client.version, self.version, "server version")
        return f"tenant {client.tenant}"

    def c_add_fragment(self):
        a0 = self.s["a0"]
        schema = CHECK_SCHEMA + ":raw"
        # Unprefixed: the elements take the default namespace pyPreservica declares on the
        # container, so the stored document must keep that namespace.
        updated = self.client.add_metadata_as_fragment(a0, schema, "<raw><part>kept</part></raw>")
        expect(schema in updated.metadata.values(), "the fragment is not on the entity")
        back = ET.fromstring(self.client.metadata_for_entity(updated, schema))
        expect_eq(back.tag, f"{{{schema}}}raw", "root of the raw fragment (namespace-aware)")
        expect_eq(back.findtext(f"{{{schema}}}part"), "kept", "child of the raw fragment")
        expect_eq(self.client.metadata_tag_for_entity(updated, schema, "part"), "kept",
                  "metadata_tag_for_entity")
        every = dict(self.client.all_metadata(updated))
        expect(set(every) >= {DC_NS, schema, CHECK_SCHEMA}, f"all_metadata schemas {sorted(every)}")
        self.s["a0"] = self.client.delete_metadata(updated, schema)
        expect(schema not in self.s["a0"].metadata.values(), "raw fragment not deleted")
        return None

    def c_update_identifier(self):
        a0 = self.s["a0"]
        kind, value, api_id = self.s["added_id"]
        new_value = value + "-v2"
        got = self.client.update_identifiers(a0, kind, new_value)
        expect_eq(got, api_id, "ApiId returned by update_identifiers")
        expect_eq(self.client.identifiers_for_entity(a0), {("code", "FERRY-00000"), (kind, new_value)},
                  "identifiers after update")
        ext = self.client.entity_identifiers(a0, kind)
        expect_eq([(e.type, e.value, e.identifier_id) for e in ext], [(kind, new_value, api_id)],
                  "entity_identifiers(type)")
        self.s["added_id"] = (kind, new_value, api_id)
        return None

    def c_physical(self):
        folder = self.s["new_folder"]
        title = f"Physical item {uuid.uuid4().hex[:6]}"
        a = self.client.add_physical_asset(title, "A box on a shelf", folder)
        expect(bool(a.reference), "no ref for the physical asset")
        expect_eq((a.title, a.description, a.security_tag, a.parent),
                  (title, "A box on a shelf", "open", folder.reference), "physical asset")
        again = self.client.asset(a.reference)
        expect_eq((again.title, again.parent), (title, folder.reference), "physical asset re-read")
        return a.reference

    def c_save_folder(self):
        f = self.client.folder(self.s["new_folder"].reference)
        f.description = "Folder description changed by save"
        returned = self.client.save(f)
        expect_eq((returned.title, returned.description, returned.parent),
                  (f.title, f.description, f.parent), "folder returned by save")
        again = self.client.folder(f.reference)
        expect_eq(again.description, f.description, "folder description re-read")
        self.s["new_folder"] = again
        return None

    def c_security_sync(self):
        f = self.client.create_folder("Closed folder", "security_tag_sync target", "open",
                                      parent=self.s["root"])
        updated = self.client.security_tag_sync(f, "closed")
        expect_eq(updated.security_tag, "closed", "security tag returned by security_tag_sync")
        expect_eq(self.client.folder(f.reference).security_tag, "closed", "security tag re-read")
        return None

    def c_move_root(self):
        c = self.client
        f = c.create_folder("Travelling folder", "moved to the root and back", "open",
                            parent=self.s["root"])
        at_root = c.move_sync(f, None)
        expect_eq(at_root.parent, None, "parent after a move to the root")
        top = {x.reference for x in c.descendants()}
        expect(f.reference in top, "the folder is not listed at the root")
        back = c.move_sync(at_root, c.folder(self.s["root"]))
        expect_eq(back.parent, self.s["root"], "parent after moving back")
        top = [x.title for x in c.descendants()]
        expect_eq(top, [ROOT_TITLE], "root folders after moving back")
        return None

    def c_bad_tenant(self):
        from pyPreservica import EntityAPI
        try:
            EntityAPI(**self.common(tenant="NOT-A-TENANT"))
        except RuntimeError as e:
            expect(len(e.args) >= 1 and e.args[0] == 401, f"RuntimeError args {e.args!r}")
            return None
        raise CheckFailed("a wrong tenant logged in")

    def c_expired(self):
        import requests
        from pyPreservica import EntityAPI
        emu = start_emulator(self.ferry, self.version, self.workdir, ["--token-seconds", "2"])
        try:
            self.emu = emu
            seen: list[tuple[str, str, int]] = []
            client = EntityAPI(**self.common(request_hook=lambda r, *a, **k: seen.append(
                (r.request.method, r.request.url, r.status_code))))
            first = client.token
            top = list(client.descendants())
            expect_eq([f.title for f in top], [ROOT_TITLE], "root folders")
            root = top[0].reference
            # The old token must now be refused with 401 JSON.
            time.sleep(2.5)
            raw = requests.get(f"{emu.url}/api/entity/structural-objects/{root}",
                               headers={"Preservica-Access-Token": first}, timeout=10)
            expect_eq(raw.status_code, 401, "status for an expired token")
            expect("message" in raw.json(), "401 body has no JSON message")
            # pyPreservica's hook: 401 -> login -> the same request again.
            folder = client.folder(root)
            expect_eq(folder.title, ROOT_TITLE, "folder read after expiry")
            expect(client.token != first, "pyPreservica kept the expired token")
            second = client.token
            # The streaming download handles its own 401.
            found = client.identifier("code", "FERRY-00000")
            bs = list(client.bitstreams_for_asset(client.asset(next(iter(found)).reference)))[0]
            time.sleep(2.5)
            path = os.path.join(self.workdir, f"expired-{self.version}.bin")
            n = client.bitstream_content(bs, path)
            expect_eq(n, bs.length, "bytes downloaded after expiry")
            with open(path, "rb") as f:
                expect_eq(hashlib.sha1(f.read()).hexdigest(), bs.fixity["SHA1"].lower(), "SHA1 after expiry")
            expect(client.token not in (first, second), "bitstream_content did not log in again")
            return "hook replay and streaming re-login both worked"
        finally:
            emu.stop()
            self.emu = None


def build_opex_package(workdir: str, source_id: str, title: str, image: bytes,
                       compress: bool = True) -> tuple[str, str]:
    """An OPEX incremental package: container folder, its manifest, one image and its sidecar."""
    container = f"conformance-{source_id[-8:]}"
    image_name = "IMG_CONFORMANCE.jpg"
    opex = f'xmlns:opex="{OPEX_NS}"'
    sidecar = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<opex:OPEXMetadata {opex}>\n"
        f"  <opex:Transfer>\n"
        f"    <opex:SourceID>{source_id}</opex:SourceID>\n"
        f"    <opex:Fixities>\n"
        f'      <opex:Fixity type="SHA-1" value="{hashlib.sha1(image).hexdigest()}"/>\n'
        f'      <opex:Fixity type="SHA-256" value="{hashlib.sha256(image).hexdigest()}"/>\n'
        f"    </opex:Fixities>\n"
        f"  </opex:Transfer>\n"
        f"  <opex:Properties>\n"
        f"    <opex:Title>{title}</opex:Title>\n"
        f"    <opex:Description>Uploaded by the ferry pyPreservica conformance check</opex:Description>\n"
        f"    <opex:SecurityDescriptor>open</opex:SecurityDescriptor>\n"
        f"  </opex:Properties>\n"
        f"</opex:OPEXMetadata>\n"
    ).encode("utf-8")
    manifest = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<opex:OPEXMetadata {opex}>\n"
        f"  <opex:Transfer>\n"
        f"    <opex:Manifest>\n"
        f"      <opex:Files>\n"
        f'        <opex:File type="metadata" size="{len(sidecar)}">{image_name}.opex</opex:File>\n'
        f'        <opex:File type="content" size="{len(image)}">{image_name}</opex:File>\n'
        f"      </opex:Files>\n"
        f"    </opex:Manifest>\n"
        f"  </opex:Transfer>\n"
        f"</opex:OPEXMetadata>\n"
    ).encode("utf-8")
    path = os.path.join(workdir, f"{container}.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        z.writestr(f"{container}/", b"")
        z.writestr(f"{container}/{container}.opex", manifest)
        z.writestr(f"{container}/{image_name}", image)
        z.writestr(f"{container}/{image_name}.opex", sidecar)
    return path, image_name


# ---------------------------------------------------------------------------------------

def watchdog(seconds: float) -> threading.Timer:
    def fire() -> None:
        with _children_lock:
            procs = list(_children)
        for p in procs:
            try:
                p.kill()
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for d in _workdirs:
            shutil.rmtree(d, ignore_errors=True)
        with RESULTS.lock:
            print(f"FAIL  global timeout of {seconds:.0f} s reached; emulators killed", flush=True)
            print(f"{RESULTS.passed} passed, {RESULTS.failed + 1} failed", flush=True)
        os._exit(2)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", default=os.environ.get("FERRY_BIN", "target/debug/ferry"),
                    help="the ferry binary (default: $FERRY_BIN or target/debug/ferry)")
    ap.add_argument("--server-version", action="append", dest="versions", metavar="V",
                    help="server version to emulate; repeatable (default: 7.7.0 and 8.1.0)")
    ap.add_argument("--timeout", type=float, default=300.0, help="global time limit in seconds")
    ap.add_argument("--check-timeout", type=int, default=60, help="time limit of one check in seconds")
    ap.add_argument("--verbose", action="store_true", help="tracebacks, emulator logs, pyPreservica logs")
    args = ap.parse_args(argv)
    versions = args.versions or DEFAULT_VERSIONS
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s")
    timer = watchdog(args.timeout)
    s3_log = logging.getLogger("botocore.endpoint")
    s3_log.setLevel(logging.DEBUG)
    s3_log.addHandler(S3_OPS)
    s3_log.propagate = args.verbose

    ferry = args.ferry
    if os.sep not in ferry:
        ferry = shutil.which(ferry) or ferry
    ferry = os.path.abspath(ferry)
    if not os.access(ferry, os.X_OK):
        print(f"FAIL  ferry binary not found or not executable: {ferry}", flush=True)
        print("0 passed, 1 failed")
        return 1
    try:
        import pyPreservica
    except ImportError as e:
        print(f"FAIL  pyPreservica is not installed ({e}); pip install 'pyPreservica=={EXPECTED_PYPRESERVICA}'")
        print("0 passed, 1 failed")
        return 1
    if pyPreservica.__version__ != EXPECTED_PYPRESERVICA:
        print(f"FAIL  pyPreservica {pyPreservica.__version__} is installed; this check is for "
              f"{EXPECTED_PYPRESERVICA}")
        print("0 passed, 1 failed")
        return 1
    print(f"pyPreservica {pyPreservica.__version__} against {ferry}, versions {', '.join(versions)}",
          flush=True)

    try:
        with tempfile.TemporaryDirectory(prefix="ferry-pypreservica-") as workdir:
            _workdirs.append(workdir)
            for version in versions:
                Suite(version, ferry, workdir, args.verbose, args.check_timeout).execute()
    finally:
        with _children_lock:
            procs = list(_children)
        for p in procs:
            stop_process(p)
        timer.cancel()
    print(f"{RESULTS.passed} passed, {RESULTS.failed} failed", flush=True)
    return 0 if RESULTS.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
