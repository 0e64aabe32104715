# The ratio plot of bench/runner.py.  Called with
#   gnuplot -e "datafile='...'; outfile='...'; runs=N; rows=M; ymin=A; ymax=B" ratios.gp
# datafile columns: index, ratio (pyconc/peer), target (NaN: none), colour
# (0xRRGGBB), label, ran (0: the row did not run; its ratio reads 1).  One bar per row from 1
# (parity) to the ratio, on a log scale, so 2x faster and 2x slower look
# alike; a black dash marks the target.  The label says on which side of
# the target a row wants to be.
set terminal pngcairo size 1500,850 font ",10" noenhanced
set output outfile
set title sprintf("pyconc / peer, median of %d runs   (green: target met, red: missed, grey: orientation only or not run)", runs)
set ylabel "ratio pyconc / peer (log scale)"
set logscale y
set yrange [ymin:ymax]
set grid ytics
set xrange [0.3:rows + 0.7]
set xtics rotate by -35 left
set bmargin 17
set rmargin 22
set style fill solid 0.85 border -1
set key top left
fmt(r) = r >= 0.1 ? sprintf("%.2fx", r) : sprintf("%.2gx", r)
plot datafile using 1:2:($1-0.35):($1+0.35):(1):2:4:xticlabels(5) with boxxyerror lc rgb variable notitle, \
     '' using ($1-0.42):3:(0.84):(0) with vectors nohead lw 3 lc rgb "black" title "target", \
     '' using 1:($6 > 0 && $2 >= 1 ? $2 : NaN):(fmt($2)) with labels offset 0,0.8 notitle, \
     '' using 1:($6 > 0 && $2 < 1 ? $2 : NaN):(fmt($2)) with labels offset 0,-0.8 notitle, \
     '' using 1:($6 > 0 ? NaN : 1):("not run") with labels offset 0,-1.5 tc rgb "gray30" notitle, \
     1 with lines dt 2 lc rgb "gray40" title "parity"
