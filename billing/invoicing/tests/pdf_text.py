"""The text of a PDF that WeasyPrint wrote, for tests that read what a customer reads.

WeasyPrint (through pydyf) writes Flate-compressed streams, objects packed in object streams,
and Type0 fonts whose hex glyph codes map to Unicode through each font's ToUnicode CMap. This
reads exactly that (no PDF library needed): text runs on the same baseline are joined by a
space (runs of spaces as one), a new baseline starts a new line.
"""

import re
import zlib

OBJ = re.compile(rb"(\d+) 0 obj\s*(.*?)\s*endobj", re.S)
STREAM = re.compile(rb"^(<<.*?>>)\s*stream\r?\n(.*)\r?\nendstream$", re.S)
TOKENS = re.compile(
    rb"/(?P<font>[^\s/\[\]<>()]+)\s+[\d.]+\s+Tf"
    rb"|(?P<tm>(?:[-\d.]+\s+){6})Tm"
    rb"|(?P<td>(?:[-\d.]+\s+){2})T[dD]"
    rb"|\[(?P<tj>[^\]]*)\]\s*TJ"
    rb"|<(?P<hex>[0-9a-fA-F]*)>\s*Tj"
)


def _objects(pdf: bytes) -> dict[int, bytes]:
    """Every object's body (streams decompressed), top-level and inside object streams."""
    objects: dict[int, bytes] = {}
    for match in OBJ.finditer(pdf):
        number, body = int(match.group(1)), match.group(2)
        stream = STREAM.match(body)
        if stream:
            head, data = stream.groups()
            if b"/FlateDecode" in head:
                data = zlib.decompress(data)
            if b"/Type /ObjStm" in head:
                first = int(re.search(rb"/First (\d+)", head).group(1))
                index = data[:first].split()
                pairs = [(int(index[i]), int(index[i + 1])) for i in range(0, len(index), 2)]
                for position, (inner, offset) in enumerate(pairs):
                    end = pairs[position + 1][1] if position + 1 < len(pairs) else None
                    objects[inner] = data[first + offset : first + end if end else None].strip()
                continue
            body = head + b"\nstream\n" + data
        objects[number] = body
    return objects


def _cmap(text: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
        for code, uni in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            mapping[int(code, 16)] = bytes.fromhex(uni.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", text, re.S):
        for low, high, uni in re.findall(
            rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block
        ):
            start = int(uni, 16)
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = chr(start + offset)
    return mapping


def _fonts(objects: dict[int, bytes]) -> dict[bytes, dict[int, str]]:
    """Resource name (as `Tf` uses it) -> the font's code -> text map."""
    fonts: dict[bytes, dict[int, str]] = {}
    dicts = [
        objects.get(int(n), b"")
        for b in objects.values()
        for n in re.findall(rb"/Font (\d+) 0 R", b)
    ]
    dicts += re.findall(rb"/Font\s*(<<[^<>]*>>)", b"".join(objects.values()))
    for entries in dicts:
        for name, number in re.findall(rb"/([^\s/<>]+)\s+(\d+) 0 R", entries):
            font = objects.get(int(number), b"")
            to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", font)
            if to_unicode:
                fonts[name] = _cmap(objects.get(int(to_unicode.group(1)), b""))
    return fonts


def _contents(objects: dict[int, bytes]) -> list[bytes]:
    """The pages' content streams, in page order."""
    pages = next((b for b in objects.values() if b.startswith(b"<</Type /Pages")), b"")
    kids = re.search(rb"/Kids \[([^\]]*)\]", pages)
    numbers = [int(n) for n in re.findall(rb"(\d+) 0 R", kids.group(1))] if kids else []
    streams = []
    for page in numbers:
        for ref in re.findall(rb"(\d+) 0 R", re.search(rb"/Contents ([^/>]*)", objects[page])[1]):
            streams.append(objects[int(ref)].split(b"\nstream\n", 1)[1])
    return streams


def pdf_text(pdf: bytes) -> str:
    """The document's text, one line per baseline, pages one after the other."""
    objects = _objects(pdf)
    fonts = _fonts(objects)
    lines: list[str] = []
    for content in _contents(objects):
        font: dict[int, str] = {}
        current, baseline = "", None
        for token in TOKENS.finditer(content):
            if token["font"]:
                font = fonts.get(token["font"], {})
            elif token["tm"] or token["td"]:
                y = token["tm"].split()[-1] if token["tm"] else None
                if y is None or y != baseline:
                    lines.append(current)
                    current = ""
                elif current:
                    current += " "
                baseline = y
            else:
                shown = token["tj"] if token["tj"] is not None else b"<" + token["hex"] + b">"
                for chunk in re.findall(rb"<([0-9a-fA-F]*)>", shown):
                    for i in range(0, len(chunk), 4):
                        current += font.get(int(chunk[i : i + 4], 16), "\ufffd")
        lines.append(current)
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())
