package pades

// Check reports whether doc is a PDF that Sign can add a signature to:
// parseable, unencrypted, with a document catalog and a first page. It
// lets a caller refuse a document before anything irreversible happens (a
// SAD consumed); Sign checks the same again.
func Check(doc []byte) (err error) {
	d, err := open(doc)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = ErrMalformed
		}
	}()
	_, err = d.page(1)
	return err
}
