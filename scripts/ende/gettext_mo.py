"""scripts/ende/gettext_mo.py: reads GNU gettext .mo catalogues (msgid -> msgstr) without the gettext module.

The format (GNU gettext manual, "The Format of GNU MO Files"): a header of 32-bit words in the file's
byte order -- magic 0x950412de, revision, N (number of strings), offset of the table of original strings,
offset of the table of translations, hash table size and offset -- then two tables of N (length, offset)
pairs. A msgid holding "\\x04" is "context\\x04msgid"; a msgid holding "\\x00" is "singular\\x00plural" and
its msgstr holds the plural forms separated by "\\x00". The entry with the empty msgid is the header,
whose Content-Type names the charset of every other string.
"""
import re
import struct

MAGIC = 0x950412DE


class MoFormatError(ValueError):
    pass


class MoEntry:
    __slots__ = ("context", "msgid", "msgid_plural", "msgstr")

    def __init__(self, context, msgid, msgid_plural, msgstr):
        self.context = context            # None or the msgctxt
        self.msgid = msgid                # the (singular) source string
        self.msgid_plural = msgid_plural  # None unless a plural entry
        self.msgstr = msgstr              # list of translations (one per plural form)

    def __repr__(self):
        return f"MoEntry({self.context!r}, {self.msgid!r}, {self.msgid_plural!r}, {self.msgstr!r})"


def _charset(header):
    m = re.search(r"charset=([A-Za-z0-9_.:-]+)", header)
    return m.group(1) if m else "utf-8"


def parse_mo(data, name="<mo>"):
    """All entries of a .mo file given as bytes (header excluded). Raises MoFormatError on a bad file."""
    if len(data) < 28:
        raise MoFormatError(f"{name}: {len(data)} bytes, too short for a .mo header")
    for order in ("<", ">"):
        if struct.unpack(order + "I", data[:4])[0] == MAGIC:
            break
    else:
        raise MoFormatError(f"{name}: bad magic number {data[:4].hex()}")
    revision, count, originals, translations = struct.unpack(order + "4I", data[4:20])
    if revision >> 16 > 1:
        raise MoFormatError(f"{name}: unsupported major revision {revision >> 16}")

    def table(offset):
        end = offset + 8 * count
        if end > len(data):
            raise MoFormatError(f"{name}: string table at {offset} runs past the end ({len(data)} bytes)")
        pairs = struct.unpack(order + f"{2 * count}I", data[offset:end])
        strings = []
        for i in range(count):
            length, start = pairs[2 * i], pairs[2 * i + 1]
            if start + length > len(data):
                raise MoFormatError(f"{name}: string {i} at {start}+{length} runs past the end")
            strings.append(data[start:start + length])
        return strings

    raw_ids, raw_strs = table(originals), table(translations)
    charset = "utf-8"
    for raw_id, raw_str in zip(raw_ids, raw_strs):
        if raw_id == b"":
            charset = _charset(raw_str.decode("ascii", "replace"))
    entries = []
    for raw_id, raw_str in zip(raw_ids, raw_strs):
        if raw_id == b"":
            continue
        try:
            msgid = raw_id.decode(charset)
            msgstr = raw_str.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue  # a string not in the declared charset: skip it rather than guess
        context = None
        if "\x04" in msgid:
            context, msgid = msgid.split("\x04", 1)
        plural = None
        if "\x00" in msgid:
            msgid, plural = msgid.split("\x00", 1)
        entries.append(MoEntry(context, msgid, plural, msgstr.split("\x00")))
    return entries


def read_mo(path):
    with open(path, "rb") as f:
        return parse_mo(f.read(), str(path))


def write_mo(pairs, charset="UTF-8"):
    """Bytes of a little-endian .mo file holding (msgid, msgstr) pairs (msgids may carry "\\x04" / "\\x00"
    as in the format); used by the tests to make synthetic catalogues."""
    header = f"Content-Type: text/plain; charset={charset}\n"
    items = sorted([("", header)] + list(pairs), key=lambda p: p[0].encode(charset))
    ids = [k.encode(charset) for k, _ in items]
    strs = [v.encode(charset) for _, v in items]
    n = len(items)
    originals = 28
    translations = originals + 8 * n
    cursor = translations + 8 * n
    id_table, str_table, blob = [], [], b""
    for s in ids:
        id_table.append((len(s), cursor + len(blob)))
        blob += s + b"\0"
    for s in strs:
        str_table.append((len(s), cursor + len(blob)))
        blob += s + b"\0"
    out = struct.pack("<7I", MAGIC, 0, n, originals, translations, 0, 0)
    out += b"".join(struct.pack("<2I", *p) for p in id_table)
    out += b"".join(struct.pack("<2I", *p) for p in str_table)
    return out + blob
