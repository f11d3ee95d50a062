"""The resolver speaks real DNS to a server on loopback and turns every outcome into a status."""

from deliverability.dns import LookupStatus, lookup


def test_txt_records_are_joined_strings(dns_zone):
    long_value = "v=DKIM1; k=rsa; p=" + "A" * 400
    dns_zone.txt("example.test", "v=spf1 -all").txt("sel._domainkey.example.test", long_value)

    assert lookup("example.test", "TXT").records == ["v=spf1 -all"]
    assert lookup("sel._domainkey.example.test.", "txt").records == [long_value]


def test_mx_and_cname_records(dns_zone):
    dns_zone.add("example.test. 300 IN MX 10 mx1.example.test.")
    dns_zone.add("links.example.test. 300 IN CNAME track.mailcrm.test.")

    assert lookup("example.test", "MX").records == ["10 mx1.example.test"]
    assert lookup("links.example.test", "CNAME").records == ["track.mailcrm.test"]


def test_missing_names_and_types_are_told_apart(dns_zone):
    dns_zone.txt("example.test", "hello").servfail("broken.test")

    assert lookup("nowhere.test", "TXT").status is LookupStatus.NXDOMAIN
    assert lookup("example.test", "MX").status is LookupStatus.NODATA
    assert lookup("broken.test", "TXT").status is LookupStatus.SERVFAIL
    assert "does not exist" in lookup("nowhere.test", "TXT").explain()


def test_a_server_that_never_answers_times_out(dns_silent):
    answer = lookup("example.test", "TXT")

    assert answer.status is LookupStatus.TIMEOUT
    assert "in time" in answer.explain()
