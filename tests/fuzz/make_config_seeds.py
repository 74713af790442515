#!/usr/bin/python3
"""Writes the hand-made seeds of the config fuzz target into corpus/config/:
the shipped examples (configs/*.toml as example_*.toml), broken variants (broken_*:
TOML syntax errors, wrong types, out-of-range values, bad endpoints/addresses,
unknown keys and sections), a few valid corner cases (valid_*) and the inputs
fuzz_config found (regression_*).
Other files in corpus/config/ are fuzzer finds merged by scripts/fuzz-long.sh.
Usage: /usr/bin/python3 tests/fuzz/make_config_seeds.py"""
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "corpus" / "config"
CONFIGS = HERE.parent.parent / "configs"

SEEDS = {
    "broken_unterminated_string.toml": '[node]\nname = "p1\nrole = "standalone"\n',
    "broken_duplicate_key.toml": '[node]\nname = "a"\nname = "b"\n',
    "broken_duplicate_table.toml": '[node]\nname = "a"\n[node]\nrole = "primary"\n',
    "broken_bad_utf8.toml": b'[node]\nname = "\xff\xfe"\nrole = "standalone"\ncluster = "c"\n'
                            b'[ports]\next = "a"\nint = "b"\n',
    "broken_nested_arrays.toml": "[service]\nips = " + "[" * 40 + "]" * 40 + "\n",
    "broken_inline_tables.toml": 'node = { name = "p", role = "backup", cluster = { x = 1 } }\n'
                                 'ports = { ext = "a", int = "a" }\n',
    "broken_types.toml": '[node]\nname = 1\nrole = true\ncluster = 2.5\nepoch = -1\n[ports]\next = []\n'
                         "int = {}\nburst = 1979-05-27T07:32:00Z\n",
    "broken_ranges.toml": '[node]\nname = "p"\nrole = "primary"\ncluster = "c"\nepoch = 0\n'
                          'realtime_priority = 100\n[ports]\next = "a"\nint = "b"\nring_mb = 0\n'
                          "burst = 99999\n[failover]\nheartbeat_ms = 50\ntimeout_ms = 60\n"
                          "probe_interval_ms = 10\nprobe_timeout_ms = 20\n[tcp]\n"
                          "max_flows = 9223372036854775807\n",
    "broken_int_overflow.toml": '[node]\nname = "p"\nrole = "standalone"\ncluster = "c"\n'
                                'epoch = 99999999999999999999999\n[ports]\next = "a"\nint = "b"\n',
    "broken_endpoints.toml": '[node]\nname = "p"\nrole = "backup"\ncluster = "c"\n[ports]\next = "a"\n'
                             'int = "b"\n[control]\nlisten = "[::1:80"\n[log]\nlisten = "::1:7600"\n'
                             'peer = "host:0"\n[arbiter]\nendpoints = ["10.0.0.256:1", '
                             '"[fe80::1]:65536", "-bad-:1", 7]\n[service]\n'
                             'ips = ["10.0.0.1", "10.0.0.1", "::g"]\nmac = "01:00:5e:00:00:01"\n'
                             "vlan = 4095\n",
    "broken_unknown_keys.toml": '[node]\nname = "p"\nrole = "standalone"\ncluster = "c"\nbogus = 1\n'
                                '[ports]\next = "a"\nint = "b"\n[nosuch]\nx = 1\n[garp.sub]\ny = 2\n',
    "broken_pcap_file.toml": '[node]\nname = "p"\nrole = "standalone"\ncluster = "c"\n[ports]\n'
                             'backend = "pcap-file"\next = "a"\nint = "b"\n[dpdk]\n'
                             'eal_args = ["--no-huge", 5]\nmbufs = 1\n',
    "broken_missing_sections.toml": '[logging]\nlevel = "verbose"\nformat = "xml"\n',
    "broken_arbiter.toml": '[arbiter]\nlisten = "127.0.0.1:7500"\ndata_dir = ""\n'
                           'control_listen = "nope"\nextra = true\n[logging]\nlevel = "info"\n',
    "broken_array_of_tables.toml": '[[node]]\nname = "p"\n[[node]]\nname = "q"\n[[ports]]\n',
    "broken_dotted_keys.toml": 'node.name = "p"\nnode.role = "standalone"\nnode.cluster = "c"\n'
                               'ports.ext = "a"\nports.int = "b"\n"quoted key" = 1\n',
    "broken_escapes.toml": '[node]\nname = "p\\u0000"\nrole = \'\'\'standalone\'\'\'\n'
                           'cluster = """multi\nline"""\n[ports]\next = "\\uD800"\nint = "b"\n',
    "broken_floats.toml": "[failover]\nheartbeat_ms = nan\ntimeout_ms = inf\nprobe_interval_ms = 1e400\n"
                          "[garp]\ncount = 0x7fffffffffffffff\ninterval_ms = 0o777\nrefresh_s = 0b1\n",
    "valid_arbiter_cluster_keys.toml": '[arbiter]\nlisten = "[::1]:7500"\ndata_dir = "/var/lib/a"\n'
                                       'key_file = "/etc/k"\nallow_unauthenticated = false\n[cluster_keys]\n'
                                       'demo = "/etc/demo.key"\n"other-1" = "/etc/o.key"\n',
    "broken_cluster_keys.toml": '[arbiter]\ndata_dir = "d"\n[cluster_keys]\n"bad name!" = "/k"\nempty = ""\n'
                                'num = 5\nsub = { a = 1 }\n',
    "broken_tls_user.toml": '[node]\nname = "p"\nrole = "standalone"\ncluster = "c"\nuser = "no body"\n'
                            '[ports]\next = "a"\nint = "b"\n[arbiter]\ntls = true\ntls_cert_file = "/c"\n'
                            'key_file = "/k"\nusername = "u"\n[log]\nkey_file = ""\n',
    # Finds of fuzz_config (docs/security.md), kept as regression inputs.
    "regression_toml_table_header_slash.toml": "[/failover]\nheartbeat_ms = 5\n",
    "regression_toml_table_header_brackets.toml": "[[[1]]]\n",
    "regression_toml_non_ascii_whitespace_probe.toml": b"\xc3\x85",
    "regression_toml_non_ascii_after_line_end_backslash.toml": b's = """\\\n\xc2\xa7"""\n',
    "regression_failover_defaults_cross_check.toml": '[node]\nname = "p"\nrole = "standalone"\ncluster = "c"\n'
                                                     '[ports]\next = "a"\nint = "b"\n[failover]\n'
                                                     "heartbeat_ms = 50\nprobe_timeout_ms = 5000\n",
    "valid_non_ascii_comments.toml": b'# comment with non-ASCII: Z\xc3\xbcrich\n[node] # \xc3\x85\n'
                                     b'name = "p" # "\xc2\xa7"\nrole = "standalone"\ncluster = "c#\\"" # \xc3\x85\n'
                                     b"[ports]\next = \"a\"\nint = 'b#' # \xe2\x80\x83\n",
    "valid_minimal_standalone.toml": '[node]\nname = "p"\nrole = "standalone"\ncluster = "c"\n[ports]\n'
                                     'ext = "a"\nint = "b"\n',
    "valid_ipv6_endpoints.toml": '[node]\nname = "p"\nrole = "primary"\ncluster = "c"\n[ports]\n'
                                 'ext = "a"\nint = "b"\n[control]\nlisten = "[::1]:0"\n[service]\n'
                                 'ips = ["fd00::10", "10.0.0.10"]\nmac = "02:00:00:00:01:00"\n[log]\n'
                                 'peer = "[fd00::2]:7600"\n[arbiter]\nbackend = "etcd"\n'
                                 'endpoints = ["etcd-1.example:2379"]\nusername = "u"\n'
                                 'password_file = "/etc/pw"\n',
}

OUT.mkdir(parents=True, exist_ok=True)
for example in sorted(CONFIGS.glob("*.toml")):
    shutil.copyfile(example, OUT / f"example_{example.stem}.toml")
for name, text in SEEDS.items():
    (OUT / name).write_bytes(text if isinstance(text, bytes) else text.encode())
