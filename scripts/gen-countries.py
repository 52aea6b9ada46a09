#!/usr/bin/env python3
"""Generate crates/core/src/countries.rs: ISO 3166-1 countries, and the ISO 3166-2 states of US, CA and AU.

Inputs (Debian package `iso-codes`):
  * iso_3166-1.json: every country's alpha-2 code and English `name` (the ISO short name, e.g.
    "Korea, Republic of"; the optional `common_name`, e.g. "South Korea", is not used).
  * iso_3166-2.json: subdivisions. Kept: US states and the District of Columbia (not the outlying
    areas AS, GU, MP, PR, UM, VI, which are ISO 3166-1 countries of their own), CA provinces and
    territories, AU states and territories.

Usage:
  python3 scripts/gen-countries.py [--iso-3166-1 PATH] [--iso-3166-2 PATH] [--out PATH]

Python 3 standard library only. The output is rustfmt-clean under the workspace's rustfmt.toml
(edition 2024, max_width 120, use_small_heuristics Max); check with
  rustfmt --edition 2024 --config max_width=120,use_small_heuristics=Max --check crates/core/src/countries.rs
"""

import argparse
import json
import os
import subprocess
import sys
import unicodedata

DEFAULT_3166_1 = "/usr/share/iso-codes/json/iso_3166-1.json"
DEFAULT_3166_2 = "/usr/share/iso-codes/json/iso_3166-2.json"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "crates", "core", "src", "countries.rs")
MAX_WIDTH = 120

# Country -> the ISO 3166-2 subdivision types kept as its `states`.
STATE_TYPES = {
    "US": {"State", "District"},
    "CA": {"Province", "Territory"},
    "AU": {"State", "Territory"},
}


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


def width(s):
    """Display width as rustfmt counts it (wide East Asian characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in s)


def struct_literal(name, fields, indent):
    """A struct literal as rustfmt lays it out: on one line if it fits in MAX_WIDTH, else one field a line."""
    pad = " " * indent
    one = "%s%s { %s }," % (pad, name, ", ".join("%s: %s" % f for f in fields))
    if width(one) <= MAX_WIDTH:
        return [one]
    lines = ["%s%s {" % (pad, name)]
    lines += ["%s    %s: %s," % (pad, k, v) for k, v in fields]
    lines.append("%s}," % pad)
    return lines


def sort_key(name):
    """English alphabetical order: accents and case ignored ("Åland Islands" with the A's), then the exact name."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return (folded.casefold(), name)


def package_version(package):
    """The installed Debian package's version, for the header; None where dpkg is not available."""
    try:
        r = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iso-3166-1", dest="iso1", default=DEFAULT_3166_1, help="(default: %(default)s)")
    ap.add_argument("--iso-3166-2", dest="iso2", default=DEFAULT_3166_2, help="(default: %(default)s)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="Rust module to write (default: %(default)s)")
    args = ap.parse_args()

    with open(args.iso1, encoding="utf-8") as f:
        countries = json.load(f)["3166-1"]
    with open(args.iso2, encoding="utf-8") as f:
        subdivisions = json.load(f)["3166-2"]

    codes = [c["alpha_2"] for c in countries]
    if len(set(codes)) != len(codes):
        sys.exit("%s: duplicate alpha-2 codes" % args.iso1)
    for cc in STATE_TYPES:
        if cc not in codes:
            sys.exit("%s: no country %s" % (args.iso1, cc))

    states = {}
    dropped = {}
    for cc, types in STATE_TYPES.items():
        kept = []
        for s in subdivisions:
            if not s["code"].startswith(cc + "-"):
                continue
            if s["type"] in types and "parent" not in s:
                kept.append((s["code"][len(cc) + 1 :], s["name"]))
            else:
                dropped.setdefault(cc, []).append("%s (%s)" % (s["code"], s["type"]))
        if not kept:
            sys.exit("%s: no subdivisions kept for %s" % (args.iso2, cc))
        kept.sort(key=lambda cn: sort_key(cn[1]))
        states[cc] = kept

    countries = sorted(countries, key=lambda c: sort_key(c["name"]))

    version = package_version("iso-codes")
    source = "iso-codes %s" % version if version else "iso-codes"

    out = []
    w = out.append
    w("// @generated by scripts/gen-countries.py -- DO NOT EDIT BY HAND: change the script or its inputs and re-run")
    w("// it (python3 scripts/gen-countries.py).")
    w("// Inputs: ISO 3166-1 and ISO 3166-2 of Debian package %s:" % source)
    w("//           %s" % args.iso1)
    w("//           %s" % args.iso2)
    w("")
    w("//! ISO 3166-1 countries with their English names, and the states of the countries that list them.")
    w("//!")
    w("//! English names are iso-codes' `name` (the ISO short name, e.g. \"Korea, Republic of\"), not its")
    w("//! informal `common_name` (\"South Korea\"). States are kept for US (50 states and DC; the outlying")
    w("//! areas are countries of their own here), CA (provinces and territories) and AU (states and territories).")
    w("")
    w("/// One ISO 3166-2 subdivision: its code without the country prefix (\"AL\" for \"US-AL\"), and English name.")
    w("#[derive(Debug, Clone, Copy, PartialEq, Eq)]")
    w("pub struct Subdivision {")
    w("    pub code: &'static str,")
    w("    pub english_name: &'static str,")
    w("}")
    w("")
    w("/// One ISO 3166-1 country: its alpha-2 code, English name, and states (empty for most countries).")
    w("#[derive(Debug, Clone, Copy, PartialEq, Eq)]")
    w("pub struct Country {")
    w("    pub code: &'static str,")
    w("    pub english_name: &'static str,")
    w("    pub states: &'static [Subdivision],")
    w("}")
    w("")
    w("/// Every ISO 3166-1 country (alpha-2 code, English name), sorted by English name; `states` filled for US,")
    w("/// CA and AU (their ISO 3166-2 states/provinces/territories, code without the \"US-\" prefix, e.g. \"AL\",")
    w("/// sorted by name), empty for others.")
    w("pub const COUNTRIES: &[Country] = &[")
    for c in countries:
        cc = c["alpha_2"]
        st = "%s_STATES" % cc if cc in states else "&[]"
        fields = [("code", rust_str(cc)), ("english_name", rust_str(c["name"])), ("states", st)]
        out.extend(struct_literal("Country", fields, 4))
    w("];")
    for cc in sorted(states):
        w("")
        w("const %s_STATES: &[Subdivision] = &[" % cc)
        for code, name in states[cc]:
            out.extend(struct_literal("Subdivision", [("code", rust_str(code)), ("english_name", rust_str(name))], 4))
        w("];")
    w("")
    w(TESTS)

    text = "\n".join(out)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)

    print("wrote %s: %d countries (%s)" % (args.out, len(countries), source), file=sys.stderr)
    for cc in sorted(states):
        print("  %s: %d subdivisions kept" % (cc, len(states[cc])), file=sys.stderr)
        if cc in dropped:
            print("  %s: left out %s" % (cc, ", ".join(dropped[cc])), file=sys.stderr)


TESTS = """#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> &'static Country {
        COUNTRIES.iter().find(|c| c.code == code).unwrap()
    }

    #[test]
    fn every_country_is_listed_once() {
        assert!(COUNTRIES.len() > 240, "{}", COUNTRIES.len());
        let mut codes: Vec<&str> = COUNTRIES.iter().map(|c| c.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), COUNTRIES.len());
        assert!(codes.iter().all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn united_states_and_its_states() {
        let us = country("US");
        assert_eq!(us.english_name, "United States");
        assert!(us.states.len() >= 50, "{}", us.states.len());
        assert_eq!(us.states.len(), 51, "50 states and DC");
        assert_eq!(us.states.iter().find(|s| s.code == "AL").unwrap().english_name, "Alabama");
        assert!(us.states.iter().any(|s| s.code == "DC"));
        assert!(!us.states.iter().any(|s| s.code == "PR"), "outlying areas are countries of their own");
        assert!(COUNTRIES.iter().any(|c| c.code == "PR"));
    }

    #[test]
    fn canada_and_australia_have_states_and_others_none() {
        assert_eq!(country("CA").states.len(), 13);
        assert_eq!(country("CA").states.iter().find(|s| s.code == "ON").unwrap().english_name, "Ontario");
        assert_eq!(country("AU").states.len(), 8);
        assert_eq!(country("AU").states.iter().find(|s| s.code == "NSW").unwrap().english_name, "New South Wales");
        assert!(COUNTRIES.iter().filter(|c| !["US", "CA", "AU"].contains(&c.code)).all(|c| c.states.is_empty()));
    }

    #[test]
    fn sorted_by_english_name() {
        assert_eq!(COUNTRIES[0].english_name, "Afghanistan");
        assert_eq!(COUNTRIES[1].english_name, "Åland Islands");
        for c in COUNTRIES {
            assert!(c.states.windows(2).all(|w| w[0].english_name < w[1].english_name), "{}", c.code);
        }
    }
}
"""

if __name__ == "__main__":
    main()
