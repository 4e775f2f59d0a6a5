from datetime import UTC, datetime

import pytest
import requests

from billing.tax.tests.vies_stub import (
    ViesStub,
    error_answer,
    invalid_answer,
    server_error,
    slow,
    user_error_answer,
    valid_answer,
)
from billing.tax.vat_numbers import (
    VatCheck,
    ViesClient,
    ViesUnavailable,
    vat_number_check,
    vat_number_check_syntax,
    vat_number_normalize,
)

AT = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
def stub():
    with ViesStub() as server:
        yield server


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(stub, sleeps):
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment for 127.0.0.1
    yield ViesClient(
        base_url=stub.base_url, timeout=0.2, retries=2, backoff=0.5, sleep=sleeps.append,
        session=session,
    )  # fmt: skip
    session.close()


# Normalisation


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        (" de 280.857-971 ", None, "DE280857971"),
        ("280857971", "DE", "DE280857971"),
        ("280857971", "de", "DE280857971"),
        ("ATU13585627", "DE", "ATU13585627"),  # a prefix wins over the country
        ("U13585627", "AT", "ATU13585627"),
        ("GR094259216", None, "EL094259216"),
        ("gr 094 259 216", None, "EL094259216"),
        ("094259216", "GR", "EL094259216"),
        ("094259216", "EL", "EL094259216"),
        ("EL094259216", "GR", "EL094259216"),
        ("XI 980 7806 84", None, "XI980780684"),
        ("980780684", "XI", "XI980780684"),
        ("XI980780684", "GB", "XI980780684"),
        ("980780684", None, "980780684"),
    ],
)
def test_normalize(raw, country, expected):
    assert vat_number_normalize(raw, country) == expected


# Syntax and check digits


@pytest.mark.parametrize(
    "number",
    [
        "DE280857971",
        "BE0123456749",
        "IT01897810162",
        "ATU13585627",
        "FR60528551658",
        "NL123456782B12",
        "EL094259216",
        "GR094259216",
        "XI980780684",
        "GB980780684",
        "AU83914571673",
        "NZ49098576",
        "SG197401143C",
        "IN27AAPFU0939F1ZV",
        "CA123026635",
    ],
)
def test_syntax_valid(number):
    assert vat_number_check_syntax(number) is True


@pytest.mark.parametrize(
    "number",
    [
        "DE280857917",
        "BE0123456794",
        "IT01897810126",
        "ATU13585726",
        "FR60528551685",
        "DE12345678",  # too short
        "EL123456781",
        "XI802311781",
        "GB802311781",
        "AU99999999999",
        "US123456789",  # no module: unknown
        "280857971",  # no prefix
        "DE",
        "",
    ],
)
def test_syntax_invalid(number):
    assert vat_number_check_syntax(number) is False


# checksum mode


def test_checksum_mode_valid():
    assert vat_number_check(" de 280.857-971 ", mode="checksum", at=AT) == VatCheck(
        number="DE280857971",
        status="valid",
        checked_at=None,
        name="",
        address="",
        source="checksum",
        detail="",
    )


def test_checksum_mode_invalid():
    result = vat_number_check("DE280857917", mode="checksum", at=AT)
    assert (result.status, result.source, result.checked_at) == ("invalid", "checksum", None)
    assert result.detail


@pytest.mark.parametrize(
    ("number", "expected"),
    [("GB 980 7806 84", "GB980780684"), ("AU 83 914 571 673", "AU83914571673")],
)
def test_checksum_mode_non_eu(number, expected):
    result = vat_number_check(number, mode="checksum", at=AT)
    assert (result.number, result.status, result.source) == (expected, "valid", "checksum")


def test_checksum_mode_never_calls_vies(stub, client):
    result = vat_number_check("DE280857971", mode="checksum", at=AT, client=client)
    assert result.status == "valid"
    assert stub.requests == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        vat_number_check("DE280857971", mode="online", at=AT)
    with pytest.raises(ValueError, match="aware"):
        vat_number_check("DE280857971", mode="checksum", at=datetime(2024, 5, 6))


# vies mode, against the stub


def test_vies_valid(stub, client, sleeps):
    stub.script(
        valid_answer("DE", "280857971", name="ACME GMBH", address="MUSTERSTR. 1\n10115 BERLIN")
    )
    result = vat_number_check("de 280 857 971", mode="vies", at=AT, client=client)
    assert result == VatCheck(
        number="DE280857971",
        status="valid",
        checked_at=AT,
        name="ACME GMBH",
        address="MUSTERSTR. 1\n10115 BERLIN",
        source="vies",
        detail="registered in VIES",
    )
    assert len(stub.requests) == 1
    request = stub.requests[0]
    assert request.path == "/taxation_customs/vies/rest-api/check-vat-number"
    assert request.json == {"countryCode": "DE", "vatNumber": "280857971"}
    assert request.headers["Content-Type"] == "application/json"
    assert sleeps == []


def test_vies_valid_without_name_and_address(stub, client):
    stub.script(valid_answer("DE", "280857971"))  # "---": the member state gives none
    result = vat_number_check("DE280857971", mode="vies", at=AT, client=client)
    assert (result.status, result.name, result.address) == ("valid", "", "")


def test_vies_invalid(stub, client):
    stub.script(invalid_answer("FR", "60528551658"))
    result = vat_number_check("FR60528551658", mode="vies", at=AT, client=client)
    assert (result.status, result.source, result.checked_at) == ("invalid", "vies", AT)
    assert len(stub.requests) == 1


def test_vies_bad_check_digits_never_asked(stub, client):
    result = vat_number_check("DE280857917", mode="vies", at=AT, client=client)
    assert (result.status, result.source) == ("invalid", "checksum")
    assert stub.requests == []


def test_vies_greece_and_northern_ireland_prefixes(stub, client):
    stub.script(valid_answer("EL", "094259216"), valid_answer("XI", "980780684"))
    assert vat_number_check("GR094259216", mode="vies", at=AT, client=client).status == "valid"
    assert vat_number_check("XI980780684", mode="vies", at=AT, client=client).status == "valid"
    assert [r.json for r in stub.requests] == [
        {"countryCode": "EL", "vatNumber": "094259216"},
        {"countryCode": "XI", "vatNumber": "980780684"},
    ]


def test_vies_503_then_valid_is_retried(stub, client, sleeps):
    stub.script(server_error(503), valid_answer("IT", "01897810162", name="ACME SRL"))
    result = vat_number_check("IT01897810162", mode="vies", at=AT, client=client)
    assert (result.status, result.name, result.checked_at) == ("valid", "ACME SRL", AT)
    assert len(stub.requests) == 2
    assert sleeps == [0.5]


def test_vies_unavailable_is_pending(stub, client, sleeps):
    stub.script(error_answer("MS_UNAVAILABLE"))  # forever
    result = vat_number_check("ATU13585627", mode="vies", at=AT, client=client)
    assert (result.status, result.source, result.checked_at) == ("pending", "vies", None)
    assert "MS_UNAVAILABLE" in result.detail
    assert len(stub.requests) == 3  # 1 + 2 retries
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    "error",
    [
        "SERVICE_UNAVAILABLE",
        "MS_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ",
        "TIMEOUT",
    ],
)
def test_vies_user_errors_are_pending(stub, client, error):
    stub.script(user_error_answer("BE", "0123456749", error))
    result = vat_number_check("BE0123456749", mode="vies", at=AT, client=client)
    assert result.status == "pending"
    assert error in result.detail
    assert len(stub.requests) == 3


def test_vies_error_on_a_5xx_status(stub, client):
    stub.script(error_answer("MS_MAX_CONCURRENT_REQ", status=500), valid_answer("DE", "x"))
    result = vat_number_check("DE280857971", mode="vies", at=AT, client=client)
    assert result.status == "valid"
    assert len(stub.requests) == 2


def test_vies_refusal_is_pending_without_retries(stub, client, sleeps):
    stub.script(error_answer("INVALID_INPUT", status=400))
    result = vat_number_check("DE280857971", mode="vies", at=AT, client=client)
    assert result.status == "pending"
    assert "INVALID_INPUT" in result.detail
    assert len(stub.requests) == 1
    assert sleeps == []


def test_vies_slow_is_pending_after_retries(stub, client, sleeps):
    stub.script(slow(valid_answer("NL", "123456782B12"), delay=2.0))
    result = vat_number_check("NL123456782B12", mode="vies", at=AT, client=client)
    assert result.status == "pending"
    assert "TIMEOUT" in result.detail
    assert len(stub.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_vies_connection_refused_is_pending(sleeps):
    stub = ViesStub().start()
    base_url = stub.base_url
    stub.stop()  # nothing listens on that port any more
    session = requests.Session()
    session.trust_env = False
    client = ViesClient(base_url=base_url, timeout=0.2, sleep=sleeps.append, session=session)
    result = vat_number_check("DE280857971", mode="vies", at=AT, client=client)
    session.close()
    assert result.status == "pending"
    assert "CONNECTION_ERROR" in result.detail
    assert sleeps == [0.5, 1.0]


def test_client_raises_vies_unavailable(stub, client):
    stub.script(server_error(502))
    with pytest.raises(ViesUnavailable, match="HTTP 502"):
        client.check("DE", "280857971")


@pytest.mark.parametrize(
    ("number", "expected"),
    [("GB980780684", "valid"), ("AU83914571673", "valid"), ("AU99999999999", "invalid")],
)
def test_vies_mode_non_eu_uses_checksum(stub, client, number, expected):
    result = vat_number_check(number, mode="vies", at=AT, client=client)
    assert (result.status, result.source) == (expected, "checksum")
    assert stub.requests == []
