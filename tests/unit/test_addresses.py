"""The address policy, decided without connecting anywhere."""

import ipaddress

import pytest

from archivers.errors import PolicyRefused
from archivers.net.addresses import AddressPolicy, AllowRule, literal_address, parse_allow_list

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata (link-local)
    "100.100.100.200",  # Alibaba metadata (shared address space)
    "100.64.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "ff02::1",
    "2001:db8::1",
]
ALLOWED = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    ip = ipaddress.ip_address(address)
    with pytest.raises(PolicyRefused) as caught:
        AddressPolicy().check(address, ip, 80)
    assert "refused by the address policy" in str(caught.value)
    assert "WARCFLOW_FETCH_ALLOW" in str(caught.value)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address):
    AddressPolicy().check(address, ipaddress.ip_address(address), 443)


@pytest.mark.parametrize(
    "literal",
    [
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "0x7F.0.0.1",
        "017700000001",
        "[::ffff:127.0.0.1]",
        "[::1]",
        "127.000.000.001",
    ],
)
def test_odd_literal_forms_are_read_as_the_c_library_would(literal):
    ip = literal_address(literal)
    assert ip is not None
    with pytest.raises(PolicyRefused):
        AddressPolicy().check(literal, ip, 80)


def test_names_are_not_literals():
    assert literal_address("example.com") is None
    assert literal_address("1e100.net") is None
    assert literal_address("deadbeef") is None


def test_refusal_names_the_dns_name_and_address():
    with pytest.raises(PolicyRefused) as caught:
        AddressPolicy().check("internal.example", ipaddress.ip_address("10.0.0.5"), 443)
    assert "internal.example resolves to 10.0.0.5" in str(caught.value)
    assert "private" in str(caught.value)


def test_allow_list_opens_exactly_what_it_names():
    policy = AddressPolicy(
        parse_allow_list("127.0.0.1:8080, [::1]:9000, 10.9.0.0/16, site.test:81")
    )
    policy.check("127.0.0.1", ipaddress.ip_address("127.0.0.1"), 8080)
    policy.check("::1", ipaddress.ip_address("::1"), 9000)
    policy.check("10.9.3.4", ipaddress.ip_address("10.9.3.4"), 22)
    policy.check("site.test", ipaddress.ip_address("192.168.0.9"), 81)
    for host, address, port in [
        ("127.0.0.1", "127.0.0.1", 8081),
        ("::1", "::1", 9001),
        ("10.8.0.1", "10.8.0.1", 80),
        ("other.test", "192.168.0.9", 81),
        ("site.test", "192.168.0.9", 82),
    ]:
        with pytest.raises(PolicyRefused):
            policy.check(host, ipaddress.ip_address(address), port)


@pytest.mark.parametrize("bad", ["127.0.0.1", "host", "host:0", "host:99999", ":80", "10.0.0.0/33"])
def test_bad_allow_entries_are_errors(bad):
    with pytest.raises(ValueError):
        AllowRule.parse(bad)
