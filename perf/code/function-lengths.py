#!/usr/bin/env python3
"""Function lengths per crate (median, p90, longest): `python3 perf/code/function-lengths.py xtask/src app/src`.

A brace-matching count: a function runs from its `fn` line to the `}` at the same indentation."""
import re,sys,os,statistics
def fns(path):
    lines=open(path).read().split('\n')
    out=[]
    for i,l in enumerate(lines):
        m=re.match(r'^(\s*)(pub(\([a-z]+\))? )?(async )?(const )?fn (\w+)',l)
        if not m: continue
        ind=m.group(1)
        # find opening line ending with '{' then closing '}' at same indent
        for j in range(i,len(lines)):
            if lines[j].rstrip().endswith(';') and j==i: break
            if lines[j]==ind+'}':
                out.append((j-i+1,m.group(6),path,i+1)); break
    return out
for crate in sys.argv[1:]:
    allf=[]
    for d,_,fs in os.walk(crate):
        for f in fs:
            if f.endswith('.rs'): allf+=fns(os.path.join(d,f))
    ls=sorted(x[0] for x in allf)
    if not ls: continue
    p90=ls[int(len(ls)*0.9)]
    top=max(allf)
    print(f"{crate}: {len(ls)} fns, median {statistics.median(ls)}, p90 {p90}, longest {top[0]} ({top[1]} {top[2]}:{top[3]})")
