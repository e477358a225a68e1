package api

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
)

// logoPNG is the default service logo info points at (config service.logo
// may name another): a 64×64 PNG drawn once, so the URI info reports works.
var logoPNG = sync.OnceValue(func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	ink, paper := color.RGBA{0x1f, 0x3a, 0x5f, 0xff}, color.RGBA{0xf4, 0xf6, 0xf8, 0xff}
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			c := paper
			border := x < 4 || y < 4 || x >= 60 || y >= 60
			pen := y >= 18 && y < 46 && ((x >= 14 && x < 20) || (x >= 20 && x < 44 && (y < 24 || y >= 40)) || (x >= 44 && x < 50 && y >= 30))
			if border || pen {
				c = ink
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
})

func (s *Server) logo(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	return c.Blob(http.StatusOK, "image/png", logoPNG())
}
