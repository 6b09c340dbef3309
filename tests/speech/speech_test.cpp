// The speech layer: WAV files in their usual forms and the errors for the others, resampling,
// words as spoken, a bot's grammar and language model, and espeak-ng's speech recognised back
// by PocketSphinx.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "speech/grammar.hpp"
#include "speech/language_model.hpp"
#include "speech/recognizer.hpp"
#include "speech/synthesizer.hpp"
#include "speech/wav.hpp"

namespace aimass::speech {
namespace {

const char* kModel = "/usr/share/pocketsphinx/model/en-us/en-us";
const char* kDictionary = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";

void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A WAV file with a given header and raw data.
std::string Wav(uint16_t format, uint16_t channels, uint32_t rate, uint16_t bits, const std::string& data,
                bool extensible = false) {
  std::string fmt;
  PutLe(fmt, extensible ? 0xfffe : format, 2);
  PutLe(fmt, channels, 2);
  PutLe(fmt, rate, 4);
  PutLe(fmt, rate * channels * bits / 8, 4);
  PutLe(fmt, channels * bits / 8, 2);
  PutLe(fmt, bits, 2);
  if (extensible) {
    PutLe(fmt, 22, 2);
    PutLe(fmt, bits, 2);
    PutLe(fmt, 0, 4);
    PutLe(fmt, format, 2);
    fmt += std::string(14, '\0');
  }
  std::string out = "RIFF";
  PutLe(out, 4 + 8 + fmt.size() + 8 + 8 + data.size(), 4);
  out += "WAVE";
  out += "LIST";  // a chunk readers must skip
  PutLe(out, 3, 4);
  out += "abc";
  out.push_back('\0');  // padding of the odd-sized chunk
  out += "fmt ";
  PutLe(out, fmt.size(), 4);
  out += fmt;
  out += "data";
  PutLe(out, data.size(), 4);
  out += data;
  return out;
}

TEST(Wav, ReadsTheCommonFormsAsMono16Bit) {
  Audio a{16000, {0, 1000, -1000, 32767, -32768}};
  auto back = ReadWav(WriteWav(a));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->sample_rate, 16000);
  EXPECT_EQ(back->samples, a.samples);

  // Stereo 24-bit: the channels' mean.
  std::string d;
  PutLe(d, 0x400000, 3);  // +0.5
  PutLe(d, 0xC00000, 3);  // -0.5
  PutLe(d, 0x200000, 3);  // +0.25
  PutLe(d, 0x200000, 3);
  auto s24 = ReadWav(Wav(1, 2, 44100, 24, d, /*extensible=*/true));
  ASSERT_TRUE(s24.ok()) << s24.status().message();
  EXPECT_EQ(s24->sample_rate, 44100);
  EXPECT_EQ(s24->samples, (std::vector<int16_t>{0, 8192}));

  // 8-bit is unsigned; 32-bit float is clipped to [-1, 1].
  auto u8 = ReadWav(Wav(1, 1, 8000, 8, std::string("\x80\xff\x00", 3)));
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ(u8->samples, (std::vector<int16_t>{0, 32512, -32768}));
  std::string f;
  for (float v : {0.5f, 2.0f, -1.0f}) {
    char b[4];
    std::memcpy(b, &v, 4);
    f.append(b, 4);
  }
  auto f32 = ReadWav(Wav(3, 1, 16000, 32, f));
  ASSERT_TRUE(f32.ok());
  EXPECT_EQ(f32->samples, (std::vector<int16_t>{16384, 32767, -32768}));
}

TEST(Wav, RefusesWhatItCannotRead) {
  EXPECT_EQ(ReadWav("").status().code(), Code::kBadRequest);
  EXPECT_EQ(ReadWav("RIFF\0\0\0\0AVI LIST").status().code(), Code::kBadRequest);
  EXPECT_NE(ReadWav(Wav(6, 1, 8000, 8, "abc")).status().message().find("compressed"), std::string::npos);  // A-law
  EXPECT_NE(ReadWav(Wav(1, 1, 16000, 12, "abc")).status().message().find("12 bits"), std::string::npos);
  EXPECT_NE(ReadWav(Wav(1, 0, 16000, 16, "ab")).status().message().find("channels"), std::string::npos);
  EXPECT_NE(ReadWav(Wav(1, 1, 100, 16, "ab")).status().message().find("rate"), std::string::npos);
  std::string no_data = Wav(1, 1, 16000, 16, "");
  no_data.resize(no_data.size() - 8);
  EXPECT_NE(ReadWav(no_data).status().message().find("no data"), std::string::npos);
  // A chunk that claims more than the file holds (other than data) is refused.
  std::string lying = WriteWav(Audio{16000, {1, 2}});
  lying[16] = '\x7f';
  EXPECT_EQ(ReadWav(lying).status().code(), Code::kBadRequest);
  // A streamed file's data size (0xffffffff) means "to the end".
  std::string streamed = WriteWav(Audio{16000, {1, 2, 3}});
  std::memset(streamed.data() + 40, 0xff, 4);
  auto s = ReadWav(streamed);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->samples.size(), 3u);
}

TEST(Wav, ResamplingKeepsThePitchAndTheLength) {
  Audio a{22050, {}};
  for (int i = 0; i < 22050; ++i) a.samples.push_back(static_cast<int16_t>(10000 * std::sin(2 * M_PI * 440 * i / 22050.0)));
  for (int rate : {16000, 44100}) {
    Audio b = Resample(a, rate);
    EXPECT_EQ(b.sample_rate, rate);
    EXPECT_NEAR(b.seconds(), 1.0, 0.001);
    int crossings = 0;
    for (size_t i = 1; i < b.samples.size(); ++i) crossings += (b.samples[i - 1] < 0) != (b.samples[i] < 0);
    EXPECT_NEAR(crossings, 880, 4) << rate;
  }
}

TEST(Grammar, SpokenWordsSpellNumbersAndDropPunctuation) {
  auto w = SpokenWords("I'd like 42 tables, at 10:30 on the 1st! '0' 1200 123456789");
  std::vector<std::string> want = {"i'd", "like", "forty", "two", "tables", "at", "ten", "thirty", "on", "the", "one", "st",
                                   "zero", "one", "thousand", "two", "hundred", "one", "two", "three", "four", "five",
                                   "six", "seven", "eight", "nine"};
  EXPECT_EQ(w, want);
}

TEST(Grammar, KeepsTheSentencesTheDictionaryCanSayAndExpandsSlots) {
  auto dict = PronunciationDictionary::Load(kDictionary);
  ASSERT_TRUE(dict.ok()) << dict.status().message();
  EXPECT_GT((*dict)->size(), 100000u);
  EXPECT_TRUE((*dict)->Has("table"));
  GrammarInput in;
  in.sentences = {{"book", "a", "table", "for", "$day"}, {"hello"}, {"hello"}, {"zxqwv", "table"}, {"see", "you", "$nothing"}};
  in.slots["day"] = {"Friday", "Monday", "Qqqday"};
  auto g = BuildGrammar(in, **dict);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->sentences, 2u);
  EXPECT_EQ(g->dropped, 2u);
  EXPECT_NE(g->jsgf.find("<slot_day> = friday | monday;"), std::string::npos) << g->jsgf;
  EXPECT_NE(g->jsgf.find("( book a table for <slot_day> )"), std::string::npos) << g->jsgf;
  EXPECT_EQ(g->words, (std::set<std::string>{"a", "book", "for", "friday", "hello", "monday", "table"}));
  const std::string entries = (*dict)->Entries(g->words);
  EXPECT_NE(entries.find("friday F R AY D IY"), std::string::npos) << entries;
  EXPECT_NE(entries.find("a(2) "), std::string::npos);  // alternatives numbered as the dictionary has them

  GrammarInput none;
  none.sentences = {{"zxqwv"}};
  EXPECT_EQ(BuildGrammar(none, **dict).status().code(), Code::kBadRequest);
}

TEST(LanguageModel, CountsTheSentencesWithTheirSlotsFilled) {
  auto dict = PronunciationDictionary::Load(kDictionary);
  ASSERT_TRUE(dict.ok());
  GrammarInput in;
  in.sentences = {{"book", "a", "table", "for", "$day"}, {"hello"}, {"zxqwv"}, {"$day"}};
  in.slots["day"] = {"friday", "monday", "sunday"};
  auto lm = BuildLanguageModel(in, **dict, /*max_fills=*/2);
  ASSERT_TRUE(lm.ok()) << lm.status().message();
  // Two fills of the first sentence, hello, and each day alone; the unknown word's left out.
  EXPECT_EQ(lm->sentences, 6u);
  EXPECT_EQ(lm->words, (std::set<std::string>{"a", "book", "for", "friday", "hello", "monday", "sunday", "table"}));
  EXPECT_NE(lm->arpa.find("\\data\\\nngram 1=10\n"), std::string::npos) << lm->arpa.substr(0, 80);
  EXPECT_NE(lm->arpa.find(" book a table\n"), std::string::npos);  // a trigram
  EXPECT_NE(lm->arpa.find("\\end\\"), std::string::npos);
  GrammarInput none;
  none.sentences = {{"zxqwv"}};
  EXPECT_EQ(BuildLanguageModel(none, **dict).status().code(), Code::kBadRequest);
}

TEST(Speech, WhatEspeakSaysPocketSphinxHears) {
  auto dict = PronunciationDictionary::Load(kDictionary);
  ASSERT_TRUE(dict.ok());
  GrammarInput in;
  for (const char* s : {"book a table for $day", "hello", "goodbye", "i want to talk to a person", "cancel my booking"}) {
    in.sentences.push_back(SpokenWords(s));
    for (auto& t : in.sentences.back()) {
      if (t == "day" && std::string(s).find("$day") != std::string::npos) t = "$day";
    }
  }
  in.slots["day"] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
  auto g = BuildGrammar(in, **dict);
  ASSERT_TRUE(g.ok()) << g.status().message();
  auto lm = BuildLanguageModel(in, **dict);
  ASSERT_TRUE(lm.ok()) << lm.status().message();
  std::set<std::string> words = lm->words;
  words.insert(g->words.begin(), g->words.end());
  auto both = Recognizer::Create(kModel, (*dict)->Entries(words), lm->arpa, g->jsgf);
  ASSERT_TRUE(both.ok()) << both.status().message();
  auto lm_only = Recognizer::Create(kModel, (*dict)->Entries(lm->words), lm->arpa);
  ASSERT_TRUE(lm_only.ok()) << lm_only.status().message();
  for (const char* said : {"book a table for friday", "i want to talk to a person", "goodbye"}) {
    auto audio = Speak(said, "en");
    ASSERT_TRUE(audio.ok()) << audio.status().message();
    EXPECT_EQ(audio->sample_rate, 22050);
    EXPECT_GT(audio->seconds(), 0.5);
    const auto samples = Resample(*audio, 16000).samples;
    auto t = (*both)->Recognize(samples);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->text, said);
    auto heard = (*lm_only)->Recognize(samples);
    ASSERT_TRUE(heard.ok());
    EXPECT_EQ(heard->search, "language_model");
    EXPECT_FALSE(heard->text.empty());
  }
  // What a message is heard as does not hang on the messages before it: a decoder that has
  // heard the three above hears another sentence as a fresh one does. A tone: nothing.
  auto fresh = Recognizer::Create(kModel, (*dict)->Entries(words), lm->arpa, g->jsgf);
  ASSERT_TRUE(fresh.ok());
  auto other = Speak("please send me the invoice for last month", "en");
  ASSERT_TRUE(other.ok());
  auto t = (*both)->Recognize(Resample(*other, 16000).samples);
  auto again = (*fresh)->Recognize(Resample(*other, 16000).samples);
  ASSERT_TRUE(t.ok() && again.ok());
  EXPECT_EQ(t->text, again->text);
  EXPECT_EQ(t->search, again->search);
  std::vector<int16_t> tone;
  for (int i = 0; i < 16000; ++i) tone.push_back(static_cast<int16_t>(8000 * std::sin(2 * M_PI * 300 * i / 16000.0)));
  auto beep = (*both)->Recognize(tone);
  ASSERT_TRUE(beep.ok());
  EXPECT_EQ(beep->text, "");
  // Silence is nothing, not a sentence.
  auto quiet = (*both)->Recognize(std::vector<int16_t>(16000, 0));
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ(quiet->text, "");
  EXPECT_EQ(Speak("hi", "xx-nonesuch").status().code(), Code::kBadRequest);
  auto zh = Speak("你好", "zh");
  ASSERT_TRUE(zh.ok()) << zh.status().message();
  EXPECT_GT(zh->seconds(), 0.2);
}

}  // namespace
}  // namespace aimass::speech
