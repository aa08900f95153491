import unittest

from wordstats import reading_time_s, top_words, words


class WordsTest(unittest.TestCase):
    def test_words_are_lower_case_and_keep_apostrophes(self) -> None:
        self.assertEqual(words("Don't PANIC, don't!"), ["don't", "panic", "don't"])

    def test_top_words_breaks_ties_alphabetically(self) -> None:
        self.assertEqual(top_words("b a c a b", 2), [("a", 2), ("b", 2)])

    def test_reading_time(self) -> None:
        self.assertEqual(reading_time_s("word " * 200), 60.0)

    def test_reading_time_refuses_zero_speed(self) -> None:
        with self.assertRaises(ValueError):
            reading_time_s("text", 0)


if __name__ == "__main__":
    unittest.main()
