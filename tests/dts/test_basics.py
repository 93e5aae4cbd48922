"""The core entry points: parse, to_dtb, from_dtb, trees_equal on small sources."""

from __future__ import annotations

from kerf.dts import from_dtb, parse, to_dtb, trees_equal

SOURCE = """/dts-v1/;
/ {
	model = "kerf test";
	#address-cells = <2>;
	devices = <&eth0>;
	cpus { cpu@0 { reg = <0>; }; };
	eth0: ethernet@0 { vendor-id = <0x8086>; };
};
"""


def test_parse_builds_nodes_properties_and_labels() -> None:
    tree = parse(SOURCE, "board.dts")
    assert tree.root.props["model"].to_string() == "kerf test"
    assert tree.get_node("/cpus/cpu@0").props["reg"].to_u32() == 0
    eth = tree.get_node("/ethernet@0")
    assert tree.label2node["eth0"] is eth
    assert eth.props["phandle"].to_u32() == 1
    assert tree.root.props["devices"].to_u32s() == [1]
    assert tree.phandle2node[1] is eth


def test_dtb_round_trip_keeps_structure_and_bytes() -> None:
    tree = parse(SOURCE)
    back = from_dtb(to_dtb(tree))
    assert trees_equal(tree, back)
    assert list(back.root.children) == ["cpus", "ethernet@0"]
