#!/usr/bin/env python3
"""Generate crates/core/src/windows_zones.rs: Windows time zone ids, their IANA zones and display names.

Inputs:
  * CLDR's windowsZones.xml (Debian package `unicode-cldr-core`), which maps every Windows zone id to
    IANA zones per territory; territory "001" is the zone's canonical ("golden") IANA zone.
  * An English display-name file: a JSON object of Windows id -> display name, in UTC-offset order
    (the en-US block of the TimeZoneNames project's windows-displaynames.json, MIT licensed).

Usage:
  python3 scripts/gen-windows-zones.py [--xml PATH] [--names PATH] [--out PATH]

Python 3 standard library only. The output is rustfmt-clean under the workspace's rustfmt.toml
(edition 2024, max_width 120, use_small_heuristics Max); check with
  rustfmt --edition 2024 --config max_width=120,use_small_heuristics=Max --check crates/core/src/windows_zones.rs
"""

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

DEFAULT_XML = "/usr/share/unicode/cldr/common/supplemental/windowsZones.xml"
DEFAULT_NAMES = "/work/shared/data/windows-zone-display-names.en-US.json"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "crates", "core", "src", "windows_zones.rs")
MAX_WIDTH = 120


def rust_str(s):
    """A Rust string literal for s."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def struct_literal(name, fields, indent):
    """A struct literal as rustfmt lays it out: on one line if it fits in MAX_WIDTH, else one field a line."""
    pad = " " * indent
    one = "%s%s { %s }," % (pad, name, ", ".join("%s: %s" % f for f in fields))
    if len(one) <= MAX_WIDTH:
        return [one]
    lines = ["%s%s {" % (pad, name)]
    lines += ["%s    %s: %s," % (pad, k, v) for k, v in fields]
    lines.append("%s}," % pad)
    return lines


def cldr_version(xml_path, root):
    """CLDR's version: the <version cldrVersion> attribute, else the #FIXED default in the DTD the XML names."""
    version = root.find("version")
    if version is not None and version.get("cldrVersion"):
        return version.get("cldrVersion")
    with open(xml_path, encoding="utf-8") as f:
        head = f.read(4096)
    m = re.search(r'<!DOCTYPE\s+\w+\s+SYSTEM\s+"([^"]+)"', head)
    if not m:
        return None
    dtd_path = os.path.normpath(os.path.join(os.path.dirname(xml_path), m.group(1)))
    try:
        with open(dtd_path, encoding="utf-8") as f:
            dtd = f.read()
    except OSError:
        return None
    m = re.search(r'<!ATTLIST\s+version\s+cldrVersion\s+CDATA\s+#FIXED\s+"([^"]+)"', dtd)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xml", default=DEFAULT_XML, help="CLDR windowsZones.xml (default: %(default)s)")
    ap.add_argument("--names", default=DEFAULT_NAMES, help="display-name JSON (default: %(default)s)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="Rust module to write (default: %(default)s)")
    args = ap.parse_args()

    root = ET.parse(args.xml).getroot()
    map_timezones = root.find("windowsZones/mapTimezones")
    if map_timezones is None:
        sys.exit("%s: no windowsZones/mapTimezones element" % args.xml)
    map_zones = list(map_timezones.iter("mapZone"))

    # Windows ids in CLDR order, and each one's territory-"001" IANA zone.
    cldr_ids = []
    golden = {}
    for mz in map_zones:
        wid = mz.get("other")
        if wid not in cldr_ids:
            cldr_ids.append(wid)
        if mz.get("territory") == "001":
            zones = mz.get("type").split()
            if len(zones) != 1:
                sys.exit("%s: territory 001 of %r lists %d zones" % (args.xml, wid, len(zones)))
            if wid in golden and golden[wid] != zones[0]:
                sys.exit("%s: two territory-001 zones for %r" % (args.xml, wid))
            golden[wid] = zones[0]
    no_golden = [w for w in cldr_ids if w not in golden]
    if no_golden:
        sys.exit("%s: no territory-001 zone for %s" % (args.xml, ", ".join(no_golden)))

    with open(args.names, encoding="utf-8") as f:
        names = json.load(f)
    if not isinstance(names, dict):
        sys.exit("%s: expected a JSON object of Windows id -> display name" % args.names)

    # Order: the display-name file's (by UTC offset), then ids it lacks in CLDR order.
    order = [w for w in names if w in golden] + [w for w in cldr_ids if w not in names]
    missing_names = [w for w in cldr_ids if w not in names]
    unused_names = [w for w in names if w not in golden]
    index = {w: i for i, w in enumerate(order)}

    # IANA id -> Windows zone, from every mapZone; a territory-"001" entry wins, else the first seen.
    iana = {}
    for mz in map_zones:
        wid = mz.get("other")
        is_golden = mz.get("territory") == "001"
        for zone in mz.get("type").split():
            if not zone.isascii():
                sys.exit("%s: non-ASCII IANA id %r" % (args.xml, zone))
            if zone not in iana or (is_golden and not iana[zone][1]):
                iana[zone] = (wid, is_golden)
    iana_sorted = sorted(iana.items(), key=lambda kv: kv[0].encode("utf-8"))

    version = cldr_version(args.xml, root)
    other_version = map_timezones.get("otherVersion")
    type_version = map_timezones.get("typeVersion")
    source = "CLDR %s" % version if version else "CLDR"
    details = []
    if other_version:
        details.append("Windows zones %s" % other_version)
    if type_version:
        details.append("tzdb %s" % type_version)
    if details:
        source += " (%s)" % ", ".join(details)

    out = []
    w = out.append
    w("// @generated by scripts/gen-windows-zones.py -- DO NOT EDIT BY HAND: change the script or its inputs and")
    w("// re-run it (python3 scripts/gen-windows-zones.py).")
    w("// Inputs: windowsZones.xml of %s, Debian package unicode-cldr-core:" % source)
    w("//           %s" % args.xml)
    w("//         English display names of Windows zone ids (MIT license, see shared/data/README.md):")
    w("//           %s" % args.names)
    if missing_names:
        w("// Ids without a display name (given a fallback): %s." % ", ".join(missing_names))
    w("")
    w("//! Windows time zone ids, the IANA zone CLDR maps each to, and their English display names.")
    w("//!")
    w("//! Some APIs speak Windows zone ids (\"Eastern Standard Time\"); classhub keeps IANA zones. This")
    w("//! table converts between the two the way CLDR's windowsZones.xml does.")
    w("")
    w("/// One Windows time zone: its id, the IANA zone CLDR maps it to (territory \"001\"), and its English")
    w("/// display name.")
    w("#[derive(Debug, Clone, Copy, PartialEq, Eq)]")
    w("pub struct WindowsZone {")
    w("    pub id: &'static str,")
    w("    pub iana: &'static str,")
    w("    pub display_name: &'static str,")
    w("}")
    w("")
    w("/// Every Windows zone id of CLDR's windowsZones.xml, in the order of the display-name file (by UTC")
    w("/// offset), ids missing from that file after them.")
    w("pub const WINDOWS_ZONES: &[WindowsZone] = &[")
    for wid in order:
        display = names.get(wid, "(UTC) %s" % wid)
        fields = [("id", rust_str(wid)), ("iana", rust_str(golden[wid])), ("display_name", rust_str(display))]
        out.extend(struct_literal("WindowsZone", fields, 4))
    w("];")
    w("")
    w("/// Every IANA zone named by a CLDR mapZone entry, sorted by id (bytewise), with the index in")
    w("/// [`WINDOWS_ZONES`] of its Windows zone (the territory \"001\" entry's when there is one).")
    w("const IANA_TO_WINDOWS: &[(&str, usize)] = &[")
    for zone, (wid, _) in iana_sorted:
        w("    (%s, %d)," % (rust_str(zone), index[wid]))
    w("];")
    w("")
    w("/// The zone with this Windows id (exact match first, then ASCII case-insensitive).")
    w("pub fn by_windows_id(id: &str) -> Option<&'static WindowsZone> {")
    w("    WINDOWS_ZONES.iter().find(|z| z.id == id).or_else(|| WINDOWS_ZONES.iter().find(|z| z.id.eq_ignore_ascii_case(id)))")
    w("}")
    w("")
    w("/// A Windows zone for an IANA zone: any CLDR mapZone whose type list contains it (prefer territory")
    w("/// \"001\"); None if CLDR has none.")
    w("pub fn for_iana(iana: &str) -> Option<&'static WindowsZone> {")
    w("    let i = IANA_TO_WINDOWS.binary_search_by(|(zone, _)| (*zone).cmp(iana)).ok()?;")
    w("    IANA_TO_WINDOWS.get(i).and_then(|&(_, zone)| WINDOWS_ZONES.get(zone))")
    w("}")
    w("")
    w(TESTS)

    text = "\n".join(out)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)

    print("wrote %s: %d Windows zones, %d IANA ids" % (args.out, len(order), len(iana_sorted)), file=sys.stderr)
    print("  source: %s" % source, file=sys.stderr)
    print("  ids without a display name: %s" % (", ".join(missing_names) or "none"), file=sys.stderr)
    print("  display names for ids CLDR lacks (unused): %s" % (", ".join(unused_names) or "none"), file=sys.stderr)


TESTS = """#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eastern_standard_time() {
        let z = by_windows_id("Eastern Standard Time").unwrap();
        assert_eq!(z.iana, "America/New_York");
        assert_eq!(z.display_name, "(UTC-05:00) Eastern Time (US & Canada)");
        assert_eq!(by_windows_id("eastern standard time"), Some(z));
        assert_eq!(by_windows_id("Eastern Standard Time "), None);
    }

    #[test]
    fn for_iana_finds_golden_and_other_zones() {
        assert_eq!(for_iana("America/New_York").unwrap().id, "Eastern Standard Time");
        assert_eq!(for_iana("Asia/Seoul").unwrap().id, "Korea Standard Time");
        // Listed only under a non-001 territory, in a space-separated type list.
        assert_eq!(for_iana("America/Detroit").unwrap().id, "Eastern Standard Time");
        assert_eq!(for_iana("Europe/London").unwrap().id, "GMT Standard Time");
        assert_eq!(for_iana("Not/A_Zone"), None);
    }

    #[test]
    fn every_windows_zone_maps_back_to_itself() {
        for z in WINDOWS_ZONES {
            assert_eq!(by_windows_id(z.id), Some(z));
            assert_eq!(for_iana(z.iana), Some(z), "{}", z.iana);
            assert!(!z.display_name.is_empty(), "{}", z.id);
        }
    }

    #[test]
    fn iana_table_is_sorted_and_in_range() {
        assert!(IANA_TO_WINDOWS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(IANA_TO_WINDOWS.iter().all(|&(_, i)| i < WINDOWS_ZONES.len()));
    }

    #[test]
    fn every_iana_zone_is_known_to_jiff() {
        let unknown: Vec<&str> =
            WINDOWS_ZONES.iter().map(|z| z.iana).filter(|iana| jiff::tz::TimeZone::get(iana).is_err()).collect();
        assert!(unknown.is_empty(), "IANA zones jiff does not know: {unknown:?}");
    }
}
"""

if __name__ == "__main__":
    main()
