#!/usr/bin/env python3
"""A baseline in the style of the Python clients merchants write: asyncio + aiohttp,
a semaphore for concurrency, one signed POST per CSV row. No retries, no ledger, no
result file — the least such a client does — so the comparison flatters it.

usage: baseline_aiohttp.py ORDERS.csv GATEWAY_URL CONCURRENCY
prints: "<delivered> <seconds>"
"""
import asyncio
import csv
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import aiohttp

APP_KEY, SECRET, SESSION = "12345678", "helloworld", "demo-session"
BEIJING = timezone(timedelta(hours=8))


def body_for(row):
    dto = {"order_no": int(row["order_no"])}
    if row["sub_order_no"]:
        dto["sub_order_no"] = int(row["sub_order_no"])
    dto["success"] = row["success"] == "true"
    for key in ("result_code", "result_desc", "req_id", "ext"):
        if row[key]:
            dto[key] = row[key]
    params = {
        "app_key": APP_KEY, "format": "json", "method": "taobao.wt.trade.opentrade.resultcallback",
        "param0": json.dumps(dto, ensure_ascii=False, separators=(",", ":")), "partner_id": "baseline",
        "session": SESSION, "sign_method": "hmac", "timestamp": datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        "v": "2.0",
    }
    text = "".join(k + v for k, v in sorted(params.items()))
    params["sign"] = hmac.new(SECRET.encode(), text.encode(), hashlib.md5).hexdigest().upper()
    return urllib.parse.urlencode(params)


async def main(path, url, concurrency):
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    limit = asyncio.Semaphore(concurrency)
    delivered = 0
    headers = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(row):
            nonlocal delivered
            async with limit:
                async with session.post(url, data=body_for(row), headers=headers) as response:
                    answer = await response.json(content_type=None)
                    result = answer.get("wt_trade_opentrade_resultcallback_response", {}).get("result", {})
                    delivered += bool(result.get("success"))

        started = time.monotonic()
        await asyncio.gather(*(one(row) for row in rows))
        print(delivered, round(time.monotonic() - started, 3))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
