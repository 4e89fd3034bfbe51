"""CLI: python -m knowledge {ingest PATH... | search "问题" | eval | calibrate | build}."""
from __future__ import annotations

import argparse
import sys

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
    p_e = sub.add_parser("eval", help="run knowledge/eval and print the metrics")
    p_e.add_argument("--details", action="store_true", help="also list misses")
    sub.add_parser("calibrate", help="sweep confidence thresholds on knowledge/eval")
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
        kb = kbm.KnowledgeBase.load(args.root, var_dir=args.var_dir)
        if args.cmd == "search":
            a = kb.answer(args.question, topic=args.topic, village_grid=args.grid)
            print(("【有把握】" if a.confident else "【没把握】") + f" ratio={a.ratio:.2f}")
            print(a.text)
            if a.citation:
                print(a.citation)
            for h in kb.search(args.question, topic=args.topic, k=args.k, village_grid=args.grid):
                print(f"  {h.score:7.2f}  {h.ratio:.2f}  {h.entry.id}  {h.entry.title}")
            return 0
        root = kbm._resolve_root(args.root)
        qpath, opath = root / "eval" / "questions.yml", root / "eval" / "out_of_corpus.yml"
        if args.cmd == "eval":
            r = kbm.evaluate(kb, qpath, opath, details=args.details)
            for key in ("n_questions", "n_out_of_corpus", "threshold", "top1", "top3", "top1_with_topic_hint",
                        "ooc_correct_dont_know", "in_corpus_confident", "in_corpus_confident_wrong"):
                v = r[key]
                print(f"{key:28s} {v:.3f}" if isinstance(v, float) else f"{key:28s} {v}")
            if args.details:
                for m in r["misses"]:
                    print("MISS", m)
                for m in r["ooc_confident"]:
                    print("OOC-CONFIDENT", m)
            return 0
        if args.cmd == "calibrate":
            print("threshold  top1   ooc_dont_know  in_conf  in_conf_wrong  balanced")
            for r in kbm.calibrate(kb, qpath, opath):
                print(f"{r['threshold']:.2f}      {r['top1']:.3f}  {r['ooc_correct_dont_know']:.3f}          "
                      f"{r['in_corpus_confident']:.3f}    {r['in_corpus_confident_wrong']:.3f}          {r['balanced']:.3f}")
            return 0
    except kbm.KnowledgeFormatError as exc:
        print(f"知识文件格式有误，未做任何改动。/ Bad knowledge file, nothing was changed.\n{exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
