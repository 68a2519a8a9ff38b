<?php

namespace App\Http\Controllers;

use App\Models\Login;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\DB;

class DashboardController extends Controller
{
    /** The signed-in user, their last logins as the queue worker recorded them, and the queue's backlog. */
    public function __invoke(Request $request)
    {
        $user = $request->user();

        return view('dashboard', [
            'user' => $user,
            'logins' => Login::where('user_id', $user->id)->latest('id')->limit(5)->get(),
            'pending' => DB::table('jobs')->count(),
        ]);
    }
}
