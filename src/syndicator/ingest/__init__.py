"""Input routes: pure parsers (bytes -> ArticleInput) and the importer that feeds them to the store."""
