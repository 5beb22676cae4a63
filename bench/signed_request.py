#!/usr/bin/env python3
"""Prints a wrk Lua script that POSTs one correctly signed callback to the simulator.

Written from the TOP signing rules (not from the tool's code), so the load generator
measures the simulator's ceiling with requests it accepts: the same req_id every time,
which the simulator answers from its idempotency record after the first call.
"""
import hashlib, hmac, sys, urllib.parse
from datetime import datetime, timedelta, timezone

app_key, secret, session = "12345678", "helloworld", "demo-session"
now = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
param0 = ('{"order_no":4000000000000000001,"success":true,"result_code":"0000","result_desc":"充值成功",'
          '"req_id":"WRK0000000001","ext":"{\\"firstChargeAmount\\":\\"100\\",\\"firstChargeTime\\":\\"1795392163000\\"}"}')
params = {"app_key": app_key, "format": "json", "method": "taobao.wt.trade.opentrade.resultcallback",
          "param0": param0, "partner_id": "bench", "session": session, "sign_method": "hmac",
          "timestamp": now, "v": "2.0"}
text = "".join(k + v for k, v in sorted(params.items()))
params["sign"] = hmac.new(secret.encode(), text.encode(), hashlib.md5).hexdigest().upper()
body = urllib.parse.urlencode(params)
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8"')
print("wrk.body = %s" % repr(body).replace("'", '"'))
