package dpsim

// Codecs is codecs, for the scripted kiosk of the external tests: it
// encodes with the same parameters as the Digital Person.
var Codecs = codecs
