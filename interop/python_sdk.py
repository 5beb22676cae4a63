"""The official TOP Python SDK (PyPI `taobao-sdk-python3`), unmodified, against the
simulated gateway: a client nobody on this project wrote must get through, and the
gateway's errors must come back in the shapes the platform gives them.

    python3 interop/python_sdk.py http://127.0.0.1:PORT [CALLS]

Run by interop/python_sdk.sh, which installs the SDK and starts `simulate`.
"""

import json
import sys
import time
import urllib.parse
import urllib.request

import top
import top.api.base as base
from top.api.base import RestApi, TopException

APP_KEY, SECRET, SESSION = "12345678", "helloworld", "demo-session"


class WtTradeOpentradeResultcallbackRequest(RestApi):
    """The request class the SDK generator writes for this API (as top/api/rest/*.py)."""

    def __init__(self, domain="gw.api.taobao.com", port=80):
        RestApi.__init__(self, domain, port)
        self.param0 = None

    def getapiname(self):
        return "taobao.wt.trade.opentrade.resultcallback"


def call(host, port, param0, session=SESSION):
    request = WtTradeOpentradeResultcallbackRequest(host, port)
    request.param0 = param0
    return request.getResponse(session)


def refused(host, port, param0, session=SESSION):
    """The TopException of a call that must fail, as (code, msg, sub_code)."""
    try:
        answer = call(host, port, param0, session)
    except TopException as error:
        return error.errorcode, error.message, error.subcode
    raise AssertionError(f"expected an error_response, got {answer}")


def order(i, **changes):
    fields = {
        "order_no": 4012345678901230000 + i,
        "success": True,
        "result_code": "0000",
        "result_desc": "充值成功",
        "req_id": f"sdk-{i:05}",
        "ext": json.dumps({"firstChargeAmount": "100", "firstChargeTime": "1704038400000"}),
    }
    fields.update(changes)
    return json.dumps(fields, ensure_ascii=False)


def expect(what, got, wanted):
    if got != wanted:
        raise AssertionError(f"{what}: got {got!r}, wanted {wanted!r}")


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    host, port = url.hostname, url.port
    top.setDefaultAppInfo(APP_KEY, SECRET)

    # Every call as the SDK makes it: md5, epoch-millisecond timestamp, partner_id,
    # system parameters in the query, param0 in the form body.
    for i in range(calls):
        answer = call(host, port, order(i))
        result = answer["wt_trade_opentrade_resultcallback_response"]["result"]
        expect(f"call {i} success", result["success"], True)
        expect(f"call {i} req_id", result["req_id"], f"sdk-{i:05}")

    # Idempotent by req_id: the same call again gets the same answer.
    again = call(host, port, order(0))["wt_trade_opentrade_resultcallback_response"]
    expect("repeated call", again["result"]["success"], True)

    # Errors in the platform's shapes.
    code, msg, _ = refused(host, port, None)
    expect("missing param0", (code, msg), (40, "Missing required arguments:param0"))
    code, msg, _ = refused(host, port, "not json")
    expect("malformed param0", (code, msg), (41, "Invalid arguments:param0"))
    code, _, sub_code = refused(host, port, order(calls, order_no="12x"))
    expect("bad field", (code, sub_code), (15, "isv.invalid-parameter"))
    code, _, sub_code = refused(host, port, order(calls), session="wrong")
    expect("wrong session", (code, sub_code), (27, "isv.invalid-sessionkey"))

    # The clock: the SDK stamps epoch milliseconds; 9 minutes off is accepted, 11 is not.
    real = time.time
    try:
        base.time.time = lambda: real() - 9 * 60
        answer = call(host, port, order(calls + 1))
        expect("9 minutes off", answer["wt_trade_opentrade_resultcallback_response"]["result"]["success"], True)
        base.time.time = lambda: real() - 11 * 60
        code, _, _ = refused(host, port, order(calls + 2))
        expect("11 minutes off", code, 31)
    finally:
        base.time.time = real

    # A wrong secret is a signature error.
    top.setDefaultAppInfo(APP_KEY, "not-the-secret")
    code, _, _ = refused(host, port, order(calls + 3))
    expect("wrong secret", code, 25)

    with urllib.request.urlopen(f"{sys.argv[1]}/__stats") as response:
        stats = json.load(response)
    expect("accepted at the gateway", stats["accepted"], calls + 1)
    print(
        f"python SDK: {calls} calls delivered, the repeat answered alike, "
        "errors 40/41/15/27/31/25 as the platform gives them"
    )


if __name__ == "__main__":
    main()
