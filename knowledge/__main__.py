"""CLI: python -m knowledge {ingest PATH... | search "问题" | eval | calibrate | confidence | build}.

    python -m knowledge eval --file knowledge/eval/villager_questions.yml --split dev --curve
    python -m knowledge calibrate --file knowledge/eval/villager_questions.yml --split dev
    python -m knowledge confidence --fit     # refit knowledge/confidence.json on the dev files
"""
from __future__ import annotations

import argparse
import sys

from knowledge import evaluation
from knowledge import retriever as kbm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge", description="乡音知识库 / Xiangyin knowledge base")
    parser.add_argument("--root", default="knowledge", help="knowledge directory (default: knowledge)")
    parser.add_argument("--var-dir", default=None, help="index parent dir (default: $XIANGYIN_VAR_DIR or var)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_ing = sub.add_parser("ingest", help="validate and add documents, then rebuild the index")
    p_ing.add_argument("paths", nargs="+")
    p_s = sub.add_parser("search", help="answer a question")
    p_s.add_argument("question")
    p_s.add_argument("--topic", default=None)
    p_s.add_argument("--grid", default=None)
    p_s.add_argument("-k", type=int, default=3)
    p_e = sub.add_parser("eval", help="run an evaluation set and print the metrics per kind")
    p_e.add_argument("--file", default=None,
                     help="villager question file with kind/split fields (e.g. knowledge/eval/villager_questions.yml); "
                          "default: the original knowledge/eval/questions.yml + out_of_corpus.yml")
    p_e.add_argument("--split", default="all", choices=evaluation.SPLITS,
                     help="dev | heldout | all (with --file; report heldout only once the change is final)")
    p_e.add_argument("--details", action="store_true", help="also list the failures (dev split / original set only)")
    p_e.add_argument("--curve", action="store_true", help="also print the threshold trade-off curve")
    p_e.add_argument("--stress", default=None, choices=evaluation.STRESS,
                     help="noise: questions with 15%% homophone slips (3 seeds); noasks: entries without their asks")
    p_c = sub.add_parser("calibrate", help="threshold trade-off curve: confident share vs confidently wrong")
    p_c.add_argument("--file", default=None, help="villager question file (default: the original set)")
    p_c.add_argument("--split", default="dev", choices=evaluation.SPLITS, help="tune on dev only (default)")
    p_c.add_argument("--stress", default=None, choices=evaluation.STRESS, help="as for eval")
    p_f = sub.add_parser("confidence", help="the calibrated confidence (knowledge/confidence.py): show, or --fit")
    p_f.add_argument("--fit", action="store_true", help="refit on the development files and write knowledge/confidence.json")
    sub.add_parser("build", help="validate all entries and rebuild the index")
    args = parser.parse_args(argv)

    try:
        if args.cmd == "ingest":
            written = kbm.ingest(args.paths, root=args.root, var_dir=args.var_dir)
            for p in written:
                print(f"已收录 / ingested: {p}")
            print(f"索引已更新 / index rebuilt: {kbm.index_path(args.var_dir)}")
            return 0
        if args.cmd == "build":
            print(f"索引已生成 / index written: {kbm.build_index(args.root, var_dir=args.var_dir)}")
            return 0
        if args.cmd == "eval" and args.details and args.file and args.split != "dev":
            # refused before anything is loaded
            print("--details is for the dev split only (the held-out half is for reporting).", file=sys.stderr)
            return 2
        kb = kbm.KnowledgeBase.load(args.root, var_dir=args.var_dir)
        if args.cmd == "search":
            a = kb.answer(args.question, topic=args.topic, village_grid=args.grid)
            print(("【有把握】" if a.confident else "【没把握】") + f" ratio={a.ratio:.2f}")
            print(a.text)
            if a.citation:
                print(a.citation)
            if a.clarify:
                print(f"【反问】{a.clarify}  {a.candidates}")
            if a.why:
                print("  why:", {k: v for k, v in a.why.items() if v not in ([], None)})
            for h in kb.search(args.question, topic=args.topic, k=args.k, village_grid=args.grid):
                print(f"  {h.score:7.2f}  {h.ratio:.2f}  {h.entry.id}  {h.entry.title}")
            return 0
        if args.cmd == "confidence":
            return _confidence(kb, args)
        root = kbm._resolve_root(args.root)
        qpath, opath = root / "eval" / "questions.yml", root / "eval" / "out_of_corpus.yml"
        if args.file:
            items = evaluation.load_questions(args.file, args.split)
            title = f"{args.file} [{args.split}]"
        else:
            items = evaluation.load_legacy(qpath, opath)
            title = "knowledge/eval/questions.yml + out_of_corpus.yml"
        if args.stress:
            kb, items = evaluation.stressed(kb, items, args.stress)
            title += f" stress={args.stress}"
        if args.cmd == "eval":
            details = args.details
            r = evaluation.evaluate_items(kb, items, details=details)
            print(evaluation.format_table(r, f"{title}  (threshold {r['threshold']:.2f})"))
            if details:
                for f in r["failures"]:
                    print("FAIL", f)
            if args.curve:
                print(evaluation.format_tradeoff(evaluation.tradeoff(kb, items), "trade-off"))
            return 0
        if args.cmd == "calibrate":
            print(evaluation.format_tradeoff(evaluation.tradeoff(kb, items), f"trade-off on {title}"))
            return 0
    except kbm.KnowledgeFormatError as exc:
        print(f"知识文件格式有误，未做任何改动。/ Bad knowledge file, nothing was changed.\n{exc}", file=sys.stderr)
        return 2
    return 1


def _confidence(kb, args) -> int:
    from knowledge import confidence

    root = kbm._resolve_root(args.root)
    if args.fit:
        cal, table = confidence.fit(kb, confidence.dev_items(root))
        print(f"written: {confidence.save(cal, root)}")
    else:
        cal = confidence.load(root)
        if cal is None:
            print("no calibration file: python -m knowledge confidence --fit", file=sys.stderr)
            return 1
        table = cal.fitted.get("leave_one_file_out", [])
    print(f"threshold {cal.threshold}  (fitted on {cal.fitted.get('questions')} development questions)")
    print("leave-one-file-out: threshold  confident_right  confident_wrong  ooc_answered")
    for row in table:
        t = "rule only" if row["threshold"] is None else f"{row['threshold']:.2f}"
        print(f"  {t:>9}  {row['confident_right']:.3f}  {row['confident_wrong']:.3f}  {row['ooc_answered']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
