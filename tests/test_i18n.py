"""The UI is complete in Simplified Chinese and English.

- every message of the zh_Hans catalogue is translated, none is fuzzy, placeholders are kept;
- the compiled .mo files match their .po files (the .mo files are committed, nothing compiles them);
- every string marked in the code and templates is in the catalogues (makemessages was run);
- pages come out in the language the browser asks for.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation
from django.utils.translation.template import templatize

from gridgov.accounts.models import Role

from .factories import UserFactory

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "gridgov" / "locale"
ZH_PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
ZH_MO = ZH_PO.with_suffix(".mo")
EN_PO = LOCALE / "en" / "LC_MESSAGES" / "django.po"
EN_MO = EN_PO.with_suffix(".mo")

CJK = re.compile(r"[\u3400-\u9fff]")
LANGUAGE_NAMES = [name for _code, name in settings.LANGUAGES]


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """LocaleMiddleware leaves the request's language active in the thread: do not leak it to later tests."""
    yield
    translation.deactivate()


# --- a small .po reader ----------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # -1 for a singular msgstr
    flags: set[str] = field(default_factory=set)
    line: int = 0
    line_of_msgid: int = 0

    @property
    def key(self) -> str:
        return f"{self.msgctxt}\x04{self.msgid}" if self.msgctxt is not None else self.msgid


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+"(.*)"\s*$')


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), s)


def read_po(path: Path) -> tuple[Entry, list[Entry]]:
    """The header entry and the other live entries (obsolete `#~` entries are skipped)."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None
    in_strings = False
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):  # a blank line ends nothing by itself; obsolete is skipped
            continue
        if line.startswith("#"):
            if current is None or in_strings:
                current, in_strings = Entry(line=n), False
                entries.append(current)
            if line.startswith("#,"):
                current.flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            continue
        m = _KEYWORD.match(line)
        if m:
            kw, index, text = m.group(1), m.group(2), _unescape(m.group(3))
            if kw in ("msgid", "msgctxt") and (current is None or in_strings):
                current = Entry(line=n)
                entries.append(current)
            assert current is not None
            in_strings = True
            if kw == "msgid":
                current.msgid, target, current.line_of_msgid = text, ("msgid", 0), n
            elif kw == "msgid_plural":
                current.msgid_plural, target = text, ("msgid_plural", 0)
            elif kw == "msgctxt":
                current.msgctxt, target = text, ("msgctxt", 0)
            else:
                i = int(index) if index is not None else -1
                current.msgstr[i], target = text, ("msgstr", i)
        elif line.startswith('"') and current is not None and target is not None:
            text = _unescape(line[1:-1])
            if target[0] == "msgstr":
                current.msgstr[target[1]] += text
            else:
                setattr(current, target[0], getattr(current, target[0]) + text)
        else:
            raise AssertionError(f"{path}:{n}: cannot read {raw!r}")
    entries = [e for e in entries if e.line_of_msgid]  # comments of obsolete entries carry no msgid
    header = [e for e in entries if e.key == ""]
    assert len(header) == 1, f"{path}: expected one header entry"
    return header[0], [e for e in entries if e.key != ""]


def header_fields(header: Entry) -> dict[str, str]:
    lines = header.msgstr[-1].splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


PLACEHOLDER = re.compile(
    r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"  # %(name)s, %(m2).0f
    r"|%[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"  # %s, %d
    r"|\{\w*(?:![rsa])?(?::[^{}]*)?\}"  # {detail}, {count}
)


def placeholders(entry: Entry, text: str) -> list[str]:
    if "python-format" in entry.flags or "python-brace-format" in entry.flags:
        return sorted(PLACEHOLDER.findall(text))
    return []


# --- (a) the zh_Hans catalogue is complete -------------------------------------------------------


def test_zh_hans_catalogue_is_fully_translated():
    header, entries = read_po(ZH_PO)
    assert "fuzzy" not in header.flags, "the zh_Hans header is marked fuzzy"
    fields = {k.strip(): v.strip() for k, v in header_fields(header).items()}
    assert fields.get("Plural-Forms") == "nplurals=1; plural=0;"
    assert fields.get("Language") == "zh_Hans"
    assert len(entries) > 100, "the catalogue looks truncated"
    untranslated = [e.msgid for e in entries if not e.msgstr or not all(s.strip() for s in e.msgstr.values())]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert not untranslated, f"untranslated in {ZH_PO.name}: {untranslated}"
    assert not fuzzy, f"fuzzy in {ZH_PO.name}: {fuzzy}"
    plurals = [e.msgid for e in entries if e.msgid_plural is not None and set(e.msgstr) != {0}]
    assert not plurals, f"zh has one plural form, fill msgstr[0] only: {plurals}"


def test_zh_hans_translations_keep_placeholders():
    _header, entries = read_po(ZH_PO)
    wrong = []
    for e in entries:
        wanted = placeholders(e, e.msgid)
        if e.msgid_plural is not None:
            wanted_plural = placeholders(e, e.msgid_plural)
            assert wanted == wanted_plural, f"line {e.line}: singular and plural differ in placeholders"
        for text in e.msgstr.values():
            if placeholders(e, text) != wanted:
                wrong.append((e.line, e.msgid, text))
    assert not wrong, f"placeholders changed: {wrong}"


def test_english_catalogue_is_the_source():
    header, entries = read_po(EN_PO)
    fields = {k.strip(): v.strip() for k, v in header_fields(header).items()}
    assert fields.get("Plural-Forms") == "nplurals=2; plural=(n != 1);"
    assert fields.get("Language") == "en"
    assert not [e.msgid for e in entries if "fuzzy" in e.flags]
    _zh_header, zh_entries = read_po(ZH_PO)
    assert {e.key for e in entries} == {e.key for e in zh_entries}, "run makemessages for both languages"


# --- (b) the committed .mo files are compiled from the current .po files -------------------------


def expected_catalogue(entries: list[Entry]) -> dict[object, str]:
    """What msgfmt puts in the .mo: translated, non-fuzzy messages."""
    out: dict[object, str] = {}
    for e in entries:
        if "fuzzy" in e.flags:
            continue
        if e.msgid_plural is None:
            if e.msgstr.get(-1):
                out[e.key] = e.msgstr[-1]
        elif all(e.msgstr.values()):
            out.update({(e.key, i): s for i, s in e.msgstr.items()})
    return out


@pytest.mark.parametrize(("po", "mo"), [(ZH_PO, ZH_MO), (EN_PO, EN_MO)], ids=["zh_Hans", "en"])
def test_mo_is_compiled_from_current_po(po, mo):
    assert mo.exists(), f"{mo} is missing: run compilemessages"
    _header, entries = read_po(po)
    with mo.open("rb") as fp:
        compiled = gettext.GNUTranslations(fp)
    catalogue = {k: v for k, v in compiled._catalog.items() if k != ""}
    expected = expected_catalogue(entries)
    missing = sorted(str(k) for k in expected.keys() - catalogue.keys())
    extra = sorted(str(k) for k in catalogue.keys() - expected.keys())
    changed = sorted(str(k) for k in expected.keys() & catalogue.keys() if expected[k] != catalogue[k])
    assert not (missing or extra or changed), (
        f"{mo.name} is stale, run compilemessages: missing {missing[:10]}, extra {extra[:10]}, "
        f"changed {changed[:10]}"
    )


def test_zh_mo_has_chinese_plural_rule():
    with ZH_MO.open("rb") as fp:
        compiled = gettext.GNUTranslations(fp)
    assert compiled.ngettext("%(n)s household", "%(n)s households", 5) == "共 %(n)s 户"
    assert compiled.ngettext("%(n)s household", "%(n)s households", 1) == "共 %(n)s 户"


# --- every marked string is in the catalogue (makemessages is current) ---------------------------

GETTEXT_FUNCS = {
    "_": 0,
    "gettext": 0,
    "gettext_lazy": 0,
    "gettext_noop": 0,
    "ngettext": 0,
    "ngettext_lazy": 0,
    "pgettext": 1,
    "pgettext_lazy": 1,
    "npgettext": 1,
    "npgettext_lazy": 1,
}


def python_msgids(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    uses_translation = any(
        isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django.utils.translation")
        for node in ast.walk(tree)
    )
    if not uses_translation:
        return set()
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in GETTEXT_FUNCS or len(node.args) <= GETTEXT_FUNCS[name]:
            continue
        arg = node.args[GETTEXT_FUNCS[name]]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            context = node.args[0].value if GETTEXT_FUNCS[name] else None
            found.add(f"{context}\x04{arg.value}" if context else arg.value)
    return found


_TEMPLATE_CALL = re.compile(r"\b(n?p?gettext)\(((?:\s*u?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*,?)+)")
_LITERAL = re.compile(r"u?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def template_msgids(path: Path) -> set[str]:
    found = set()
    for m in _TEMPLATE_CALL.finditer(templatize(path.read_text(encoding="utf-8"), origin=str(path))):
        strings = [ast.literal_eval(s.lstrip("u")) for s in _LITERAL.findall(m.group(2))]
        if m.group(1).startswith(("pgettext", "npgettext")):
            found.add(f"{strings[0]}\x04{strings[1]}")
        else:
            found.add(strings[0])
    return found


def test_every_marked_string_is_in_the_catalogue():
    sources = [p for p in (ROOT / "gridgov").rglob("*.py") if "migrations" not in p.parts]
    marked = {msgid: path for path in sources for msgid in python_msgids(path)}
    marked |= {
        msgid: path for path in (ROOT / "templates").rglob("*.html") for msgid in template_msgids(path)
    }
    assert len(marked) > 100, "the scan found too few strings: is the source tree there?"
    _header, entries = read_po(ZH_PO)
    known = {e.key for e in entries}
    missing = sorted(
        f"{path.relative_to(ROOT)}: {msgid!r}" for msgid, path in marked.items() if msgid not in known
    )
    assert not missing, "run makemessages and translate:\n" + "\n".join(missing)


# --- (c), (d) pages in the language the browser asks for ----------------------------------------


def english_leftovers(html: str) -> list[str]:
    return [s for s in ("Log out", "Home", "Nothing yet.", "Households", "Log in", "Password") if s in html]


def chinese_outside_language_names(html: str) -> list[str]:
    for name in LANGUAGE_NAMES:
        html = html.replace(name, "")
    return CJK.findall(html)


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="i18n-admin", role=Role.ADMIN, is_staff=True, is_superuser=True))
    return client


PAGES_ZH = {
    "/": ["首页", "地图", "住户", "网格划分", "数据导入", "退出登录", "管理员", "社区", "网格", "暂无数据。"],
    "/households/": ["住户台账", "全部住户", "共 0 户", "暂无住户。", "第 1 页，共 1 页"],
    "/gridding/": ["网格划分", "街道", "现行网格数", "您的管辖范围内没有社区。"],
    "/imports/": ["数据导入", "导入内容", "住户台账", "试运行", "上传并检查", "编码字段"],
}
PAGES_EN = {
    "/": ["Home", "Map", "Households", "Gridding", "Imports", "Log out", "administrator", "Nothing yet."],
    "/households/": ["Household ledger", "All households", "0 households", "No households.", "Page 1 of 1"],
    "/gridding/": ["Gridding", "Street office", "Grids in force", "No community in your scope."],
    "/imports/": ["Imports", "What to import", "Dry run", "Upload and check", "Code attribute"],
}


@pytest.mark.parametrize("url", list(PAGES_ZH))
def test_logged_in_pages_in_chinese(admin_client, url):
    response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert [s for s in PAGES_ZH[url] if s not in html] == []
    assert english_leftovers(html) == []


@pytest.mark.parametrize("url", list(PAGES_EN))
def test_logged_in_pages_in_english(admin_client, url):
    response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert [s for s in PAGES_EN[url] if s not in html] == []
    assert chinese_outside_language_names(html) == []


def test_map_labels_follow_the_language(admin_client):
    import json

    def labels(lang: str) -> dict[str, str]:
        html = admin_client.get("/map/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
        m = re.search(r'<script id="map-labels" type="application/json">(.*?)</script>', html, re.S)
        assert m, "the map page has no labels"
        return json.loads(m.group(1))

    zh, en = labels("zh-hans"), labels("en")
    assert zh["grids"] == "网格" and zh["areas"] == "责任区" and en["grids"] == "Grids"
    assert [k for k, v in zh.items() if not CJK.search(v)] == []
    assert [k for k, v in en.items() if CJK.search(v)] == []


def test_chinese_is_the_default_without_a_browser_preference(admin_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    html = admin_client.get("/").content.decode()
    assert "首页" in html and "退出登录" in html and english_leftovers(html) == []


@pytest.mark.django_db
def test_login_page_in_chinese_and_english():
    zh = Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for s in ("登录", "用户名", "密码", "网格化治理"):
        assert s in zh
    assert english_leftovers(zh) == []
    en = Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for s in ("Log in", "User name", "Password", "Grid governance"):
        assert s in en
    assert chinese_outside_language_names(en) == []


@pytest.mark.django_db
def test_failed_login_message_in_chinese():
    UserFactory(username="i18n-user")
    response = Client().post(
        "/accounts/login/", {"username": "i18n-user", "password": "wrong"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 200
    assert "用户名或密码错误。" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "expected"),
    [("zh-CN,zh;q=0.9,en;q=0.8", "登录"), ("zh-TW,zh;q=0.9", "登录"), ("en-US,en;q=0.9", "Log in")],
)
def test_real_browser_headers_pick_the_language(header, expected):
    html = Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=header).content.decode()
    assert f"<h1>{expected}</h1>" in html


def test_language_switcher_overrides_the_browser(admin_client):
    response = admin_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    html = admin_client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Log out" in html and "退出登录" not in html
    admin_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = admin_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "退出登录" in html and "Log out" not in html
