package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chartMetrics are the throughputs compared in the chart, with the ratio
// ours / crdt that the targets ask for.
var chartMetrics = []struct {
	Key, Label string
	Target     float64
}{
	{"add.rate", "REST pin add", 2},
	{"import.rate", "state import", 3},
	{"export.rate", "state export", 1.5},
	{"ls.rate", "REST pin ls", 1.5},
}

// writeChart draws, per size, the ratio ours / crdt of each throughput
// (bars), the targets (triangles) and parity (a line at 1), as a PNG.
func writeChart(r *Run, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("ours / upstream crdt: throughput ratio (%s mode, commit %s)", r.Mode, r.Commit)
	p.Y.Label.Text = "ours / crdt (higher is better)"
	p.Y.Min = 0
	names := make([]string, len(chartMetrics))
	for i, m := range chartMetrics {
		names[i] = m.Label
	}
	p.NominalX(names...)

	w := vg.Points(60 / float64(max(len(r.Sizes), 1)))
	maxY := 1.0
	for i, size := range r.Sizes {
		vals := make(plotter.Values, len(chartMetrics))
		for j, m := range chartMetrics {
			if v, ok := r.ratio(size, m.Key); ok {
				vals[j] = v
				maxY = max(maxY, v)
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(float64(i)-float64(len(r.Sizes)-1)/2)
		p.Add(bars)
		p.Legend.Add(sizeLabel(size)+" pins", bars)
	}

	targets := make(plotter.XYs, len(chartMetrics))
	for i, m := range chartMetrics {
		targets[i] = plotter.XY{X: float64(i), Y: m.Target}
		maxY = max(maxY, m.Target)
	}
	sc, err := plotter.NewScatter(targets)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Shape = draw.TriangleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(5)
	sc.GlyphStyle.Color = color.RGBA{R: 200, A: 255}
	p.Add(sc)
	p.Legend.Add("target", sc)

	parity := plotter.NewFunction(func(float64) float64 { return 1 })
	parity.XMin, parity.XMax = -0.5, float64(len(chartMetrics))-0.5
	parity.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	parity.Color = color.Gray{Y: 90}
	p.Add(parity)
	p.Legend.Add("crdt = 1", parity)

	p.X.Min, p.X.Max = -0.6, float64(len(chartMetrics))-0.4
	p.Y.Max = maxY * 1.15
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p.Save(9*vg.Inch, 4.5*vg.Inch, path)
}
