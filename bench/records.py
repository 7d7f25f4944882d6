"""Benchmark of the records import and lookups at production size, run by hand.

    python bench/records.py [--enterprises 100000] [--accounts 150000] [--seed 1] [--keep DIR]

Generates enterprises with valid USCCs (made with helpdesk.letters.codes) and their platform
accounts as two CSV files, imports them into a fresh, migrated SQLite database through the real
importer, then times lookups by USCC, by account (written without its zxkt_ prefix) and by a
slightly wrong company name (fuzzy), each the median of 100 different queries.
Aim: import >= 5,000 rows/s; each lookup < 5 ms.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpdesk import bootstrap, create_app, db  # noqa: E402
from helpdesk.letters import codes  # noqa: E402
from helpdesk.records import importer, lookup  # noqa: E402

REGIONS = [
    ("320500", "苏州"), ("330100", "杭州"), ("440300", "深圳"), ("310000", "上海"), ("370200", "青岛"),
    ("350200", "厦门"), ("330200", "宁波"), ("440100", "广州"), ("120000", "天津"), ("210200", "大连"),
]  # fmt: skip
#: characters of trade names (字号): a few hundred, as real names draw on a few thousand
WORDS = (
    "恒达华信远航金泰鼎盛宏图博雅瑞丰永新东方宝隆嘉禾天成海润中孚汇通锦程万邦联创德利凯旋明珠星辰"
    "安邦百川倍特必胜博远灿烂昌盛超越晨光诚信创新春晖大地德胜鼎新东升飞跃丰收福瑞富强光明广源国泰"
    "海天豪迈和谐恒通弘扬鸿运华夏辉煌慧智吉祥佳美建设健康江南金鹰锦绣精诚景泰久远聚力骏马开元康宁"
    "坤元兰亭蓝天乐家力行立信联合良友林海龙腾隆兴茂源美达明德南方宁远鹏程普惠齐心启明千里乾坤强盛"
    "秦川清华庆丰群英仁和荣昌瑞祥润泽三和森林山河上品尚德神州盛世时代世纪顺风硕果四海泰和腾飞天地"
    "同心拓展万达旺盛威龙伟业文华沃土五洲西湖祥和新华信达兴旺雄狮旭日轩辕雅居亚太扬帆阳光一诺亿家"
    "易通银河英豪永安优品宇航元亨远大跃进云海长城兆丰振华正大志成致远智联中天众诚卓越紫金"
)
TRADES = [
    "贸易",
    "进出口",
    "科技",
    "实业",
    "电子",
    "纺织",
    "机械",
    "食品",
    "化工",
    "服饰",
    "国际贸易",
    "供应链",
]


def make_uscc(rng: random.Random, division: str) -> str:
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    org = body + codes.org_check_char(body)
    head = "91" + division + org
    return head + codes.uscc_check_char(head)


def generate(n_ent: int, n_acc: int, rng: random.Random) -> tuple[bytes, bytes, list[tuple[str, str, str]]]:
    """CSV bytes of enterprises and accounts, and (uscc, name, one account) per enterprise."""
    ent_out, acc_out = io.StringIO(), io.StringIO()
    ew, aw = csv.writer(ent_out), csv.writer(acc_out)
    ew.writerow(["企业名称", "统一社会信用代码", "组织机构代码", "行政区划代码", "行政区划", "商务主管机关", "联系人",
                 "联系电话", "联系邮箱"])  # fmt: skip
    aw.writerow(["账号", "统一社会信用代码", "账号状态", "是否绑定应用", "邮箱", "手机"])
    usccs: set[str] = set()
    names: set[str] = set()
    facts: list[tuple[str, str, str]] = []
    extra = n_acc - n_ent  # enterprises with a second account
    for i in range(n_ent):
        code, region = rng.choice(REGIONS)
        uscc = make_uscc(rng, code)
        while uscc in usccs:
            uscc = make_uscc(rng, code)
        usccs.add(uscc)
        name = ""
        while not name or name in names:
            word = "".join(rng.sample(WORDS, rng.choice((2, 2, 3, 4))))
            name = f"{region}{'市' if rng.random() < 0.3 else ''}{word}{rng.choice(TRADES)}有限公司"
        names.add(name)
        ew.writerow([name, uscc, f"{uscc[8:16]}-{uscc[16]}", code, region + "市", region + "市商务局",
                     "联系人", f"0512-{i:08d}", f"contact{i}@corp{i}.cn"])  # fmt: skip
        first = f"zxkt_corp{i}" if i % 4 == 0 else f"corp{i}"
        aw.writerow([first, uscc, "正常", "是", f"a{i}@corp{i}.cn", f"138{i:08d}"])
        if i < extra:
            aw.writerow([f"corp{i}_b", uscc, "正常", "否", "", ""])
        facts.append((uscc, name, first))
    return ent_out.getvalue().encode("utf-8-sig"), acc_out.getvalue().encode("utf-8"), facts


def misspell(name: str, rng: random.Random) -> str:
    """The name as a letter might carry it: a dropped or extra 市, a wrong character, full-width brackets."""
    variants = [
        name.replace("市", "", 1) if "市" in name else name[:2] + "市" + name[2:],
        name[:3] + "某" + name[4:],
        name.replace("有限公司", "（有限）公司"),
        " ".join(name),
    ]
    return rng.choice(variants)


def median_ms(fn, items) -> tuple[float, float]:
    """Median wall and CPU milliseconds of fn over items (CPU time is immune to a busy machine)."""
    wall, cpu = [], []
    for item in items:
        start, cpu0 = time.perf_counter(), time.process_time()
        fn(item)
        cpu.append((time.process_time() - cpu0) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", help="directory for the database and CSV files (default: a temporary one)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="bench-records-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ent_csv, acc_csv, facts = generate(args.enterprises, args.accounts, rng)
    (workdir / "企业.csv").write_bytes(ent_csv)
    (workdir / "账号.csv").write_bytes(acc_csv)
    print(
        f"generated {args.enterprises:,} enterprises + {args.accounts:,} accounts in {time.perf_counter() - t0:.1f} s"
    )

    dbfile = workdir / "bench.sqlite3"
    for leftover in (dbfile, dbfile.with_name(dbfile.name + "-wal"), dbfile.with_name(dbfile.name + "-shm")):
        leftover.unlink(missing_ok=True)
    settings = {"HELPDESK_DATABASE_URL": f"sqlite:///{dbfile}", "HELPDESK_INSTANCE_DIR": str(workdir)}
    app = create_app(overrides=settings)
    with app.app_context():
        bootstrap.init_database()
        start, cpu0 = time.perf_counter(), time.process_time()
        tables = [
            t for n in ("企业.csv", "账号.csv") for t in importer.read_file(n, (workdir / n).read_bytes())
        ]
        parsed = time.perf_counter()
        report = importer.import_tables(tables)
        done, cpu = time.perf_counter(), time.process_time() - cpu0
        assert report.applied and not report.errors, report.summary()
        rows = report.rows
        print(f"import: {rows:,} rows in {done - start:.1f} s = {rows / (done - start):,.0f} rows/s "
              f"(read {parsed - start:.1f} s, validate + write {done - parsed:.1f} s); "
              f"CPU {cpu:.1f} s = {rows / cpu:,.0f} rows per CPU second")  # fmt: skip
        again, cpu0 = time.perf_counter(), time.process_time()
        second = importer.import_tables(tables)
        print(f"re-import (nothing changes): {time.perf_counter() - again:.1f} s (CPU {time.process_time() - cpu0:.1f} s), "
              f"unchanged {second.counts['enterprise'].unchanged:,} + {second.counts['account'].unchanged:,}")  # fmt: skip

        sample = rng.sample(facts, 100)
        lookup.by_uscc(sample[0][0])  # warm the connection and statement caches
        db.session.remove()
        found = 0

        def fuzzy(q: tuple[str, str]) -> None:
            nonlocal found
            best = lookup.fuzzy_by_name(q[0], limit=3)
            found += bool(best) and best[0][0].uscc == q[1]

        figures = {
            "by USCC": median_ms(lambda f: lookup.by_uscc(f[0]), sample),
            "by account (zxkt_ left out)": median_ms(
                lambda f: lookup.by_account(f[2].removeprefix("zxkt_")), sample
            ),
            "by exact name": median_ms(lambda f: lookup.by_name(f[1]), sample),
            "by fuzzy name": median_ms(fuzzy, [(misspell(f[1], rng), f[0]) for f in sample]),
        }
        print("lookups, median of 100 different queries (wall / CPU):")
        for label, (wall, cpu_ms) in figures.items():
            print(f"  {label:<28} {wall:6.2f} ms / {cpu_ms:5.2f} ms")
        print(f"  fuzzy: the right enterprise first in {found}/100")
    print(f"files and database in {workdir}")


if __name__ == "__main__":
    main()
