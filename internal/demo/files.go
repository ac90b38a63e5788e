package demo

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
)

// pdf returns a small one-page PDF showing lines in Helvetica, with a
// correct cross-reference table so that viewers open it without repair.
func pdf(lines []string) []byte {
	var text strings.Builder
	text.WriteString("BT /F1 12 Tf 72 770 Td 16 TL\n")
	for _, l := range lines {
		l = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(l)
		fmt.Fprintf(&text, "(%s) Tj T*\n", l)
	}
	text.WriteString("ET\n")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", text.Len(), text.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// chart returns a PNG bar chart of values (0 to 100), the kind of image
// people paste into status mails.
func chart(values []int, c color.RGBA) []byte {
	const w, h, bar = 240, 120, 24
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.RGBA{250, 250, 250, 255})
	fill(img, image.Rect(8, h-9, w-8, h-8), color.RGBA{120, 120, 120, 255})
	for i, v := range values {
		x := 16 + i*(bar+8)
		if x+bar > w-8 {
			break
		}
		fill(img, image.Rect(x, h-9-v*(h-20)/100, x+bar, h-9), c)
	}
	return encodePNG(img)
}

// avatar returns a square PNG portrait placeholder: a head and shoulders
// in a light shade of c on a background of c.
func avatar(c color.RGBA) []byte {
	const n = 96
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	fill(img, img.Bounds(), c)
	light := color.RGBA{c.R/2 + 128, c.G/2 + 128, c.B/2 + 128, 255}
	for y := range n {
		for x := range n {
			dx, dy := x-n/2, y-38
			head := dx*dx+dy*dy < 18*18
			sx, sy := x-n/2, y-n-10
			body := sx*sx+sy*sy/2 < 40*40
			if head || body {
				img.SetRGBA(x, y, light)
			}
		}
	}
	return encodePNG(img)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func encodePNG(img image.Image) []byte {
	var b bytes.Buffer
	e := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := e.Encode(&b, img); err != nil {
		panic(err) // writing to a bytes.Buffer cannot fail
	}
	return b.Bytes()
}
